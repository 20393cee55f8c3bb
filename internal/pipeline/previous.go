package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
)

// errNoRegistry is a programming error: registry work without a client.
var errNoRegistry = errors.New("pipeline: a registry client is required to read images")

// readPrevious reads every image in refs (manifest and config only). A
// missing image is skipped; an image a registry answers "blob unknown" for
// (GHCR does, for a while after an upload) is retried, and if that persists
// it is not used: its layers are rebuilt, which is always safe.
func readPrevious(ctx context.Context, c *regclient.Client, refs []name.Reference, log *logger) ([]*image.Previous, error) {
	if len(refs) > 0 && c == nil {
		return nil, errNoRegistry
	}
	var out []*image.Previous
	for _, r := range refs {
		p, err := readPreviousOnce(ctx, c, r, log)
		if err != nil {
			return nil, fmt.Errorf("previous image: %w", regclient.WithStatus(err))
		}
		if p == nil {
			log.printf("no previous image at %s", r)
			continue
		}
		if p.Unusable != "" {
			log.printf("warning: previous image %s (%s) is not reused: %s", r, p.Digest, p.Unusable)
		} else {
			log.printf("previous image %s: %s (%d layers)", r, p.Digest, len(p.Layers))
		}
		out = append(out, p)
	}
	return out, nil
}

func readPreviousOnce(ctx context.Context, c *regclient.Client, r name.Reference, log *logger) (*image.Previous, error) {
	for attempt := 1; ; attempt++ {
		p, err := image.LoadPrevious(ctx, c, r)
		if err == nil || !regclient.IsNotFound(err) {
			return p, err
		}
		if attempt == 3 {
			log.printf("warning: previous image %s is unreadable (%v); not reusing its layers", r, err)
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}

// targetOf returns the previous image read at the target, if any.
func targetOf(target name.Reference, prevs []*image.Previous) *image.Previous {
	if target != nil && len(prevs) > 0 && prevs[0].Ref.Name() == target.Name() {
		return prevs[0]
	}
	return nil
}

// readBase reads the plan's base image (from:), manifest and config only:
// its layers are reused by digest (cross-repo mounted on push) and never
// downloaded when the target registry can mount them.
func readBase(ctx context.Context, c *regclient.Client, p *plan.Plan) (*image.Previous, error) {
	if p.From == "" {
		return nil, nil
	}
	ref, err := name.ParseReference(p.From)
	if err != nil {
		return nil, fmt.Errorf("%s: from: %q is not an image reference: %w", p.File, p.From, err)
	}
	if c == nil {
		return nil, errNoRegistry
	}
	base, err := image.LoadPrevious(ctx, c, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: from: %w", p.File, regclient.WithStatus(err))
	}
	if base == nil {
		return nil, fmt.Errorf("%s: from: base image %s not found", p.File, ref)
	}
	return base, nil
}

// baseExclude returns the store paths a base image already holds (as
// recorded by nix-layer-action in the base's own metadata; a foreign base
// carries no such record, and its files simply lie below ours) and its
// layer count.
func baseExclude(base *image.Previous) (map[string]bool, int) {
	if base == nil {
		return nil, 0
	}
	ex := map[string]bool{}
	for _, l := range base.Layers {
		for _, p := range l.Meta.Paths {
			ex[p.Path] = true
		}
	}
	m, err := base.Image.Manifest()
	n := len(base.Layers)
	if err == nil {
		n = len(m.Layers)
	}
	return ex, n
}

// baseLayers are the base image's layers, first in the report.
func baseLayers(base *image.Previous) []report.Layer {
	if base == nil {
		return nil
	}
	m, err := base.Image.Manifest()
	if err != nil {
		return nil
	}
	var ls []report.Layer
	for i, d := range m.Layers {
		name := fmt.Sprintf("from-%d", i+1)
		var paths []string
		if i < len(base.Layers) && base.Layers[i].Meta.Name != "" {
			name = "from:" + base.Layers[i].Meta.Name
			for _, p := range base.Layers[i].Meta.Paths {
				paths = append(paths, p.Path)
			}
		}
		ls = append(ls, report.Layer{Name: name, Digest: d.Digest.String(), Size: d.Size, Paths: paths, Status: report.StatusBase})
	}
	return ls
}
