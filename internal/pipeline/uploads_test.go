package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// gatedWriter blocks every WriteLayer until release is closed, recording
// how many run at once.
type gatedWriter struct {
	mu       sync.Mutex
	inFlight int
	most     int
	done     int
	started  chan struct{} // one send per WriteLayer that began
	release  chan struct{}
}

func (w *gatedWriter) WriteLayer(ctx context.Context, l v1.Layer) error {
	w.mu.Lock()
	w.inFlight++
	w.most = max(w.most, w.inFlight)
	w.mu.Unlock()
	w.started <- struct{}{}
	select {
	case <-w.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	w.inFlight--
	w.done++
	w.mu.Unlock()
	return nil
}

// An upload starts as soon as its layer is handed over, while nothing
// waits for the build to finish, and no more than the upload budget run
// at once.
func TestUploadsStartAtOnceWithinTheirBudget(t *testing.T) {
	const jobs, layers = 2, 7
	w := &gatedWriter{started: make(chan struct{}, layers), release: make(chan struct{})}
	up := newUploads(context.Background(), w, jobs)
	for i := 0; i < layers; i++ {
		l, err := random.Layer(64, "application/vnd.oci.image.layer.v1.tar+gzip")
		if err != nil {
			t.Fatal(err)
		}
		up.add(l)
	}
	// Still "building" (wait not called): the first uploads are under way.
	for i := 0; i < jobs; i++ {
		select {
		case <-w.started:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d uploads started before the build ended, want %d", i, jobs)
		}
	}
	select {
	case <-w.started:
		t.Fatalf("a third upload started with a budget of %d", jobs)
	case <-time.After(100 * time.Millisecond):
	}
	close(w.release)
	if err := up.wait(nil); err != nil {
		t.Fatal(err)
	}
	if w.most != jobs || w.done != layers {
		t.Errorf("at most %d uploads at once (budget %d), %d of %d done", w.most, jobs, w.done, layers)
	}
}
