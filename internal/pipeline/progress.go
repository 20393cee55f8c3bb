package pipeline

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/progress"
)

// enter announces phase p, once for both listeners: Options.Phase gets
// it (with detail, e.g. " <destination>", appended) and the progress
// reporter starts timing it.
func (r *run) enter(p Phase, detail string) {
	if r.o.Phase != nil {
		r.o.Phase(p + Phase(detail))
	}
	if r.o.Progress != nil {
		r.o.Progress.Phase(p.timing())
	}
}

// task starts a progress task (nil without a reporter; a nil task is a
// no-op).
func (r *run) task(name string, total int64) *progress.Task {
	if r.o.Progress == nil {
		return nil
	}
	return r.o.Progress.Task(name, total)
}

// countedSource counts the bytes of store contents read for one layer.
type countedSource struct {
	src layer.Source
	t   *progress.Task
}

func (c countedSource) Walk(ctx context.Context, p string, fn func(*layer.Entry) error) error {
	return c.src.Walk(ctx, p, func(e *layer.Entry) error {
		if e.Body != nil {
			e.Body = c.t.Reader(e.Body)
		}
		return fn(e)
	})
}

// countedLayer counts the bytes of a built layer's blob as they are read
// for the upload.
type countedLayer struct {
	v1.Layer
	t *progress.Task
}

func (c countedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{c.t.Reader(rc), rc}, nil
}
