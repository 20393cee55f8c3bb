package pipeline

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/report"
)

// BaseStatus is the report status of a base-image layer before publishing.
const BaseStatus = "base"

// loadBase reads the plan's base image (from:), manifest and config only:
// its layers are reused by digest (cross-repo mounted on push) and never
// downloaded when the target registry can mount them.
func loadBase(ctx context.Context, p *plan.Plan, ropts []remote.Option) (*image.Previous, error) {
	if p.From == "" {
		return nil, nil
	}
	ref, err := name.ParseReference(p.From)
	if err != nil {
		return nil, fmt.Errorf("%s: from: %q is not an image reference: %w", p.File, p.From, err)
	}
	base, err := image.LoadPrevious(ctx, ref, ropts...)
	if err != nil {
		return nil, fmt.Errorf("%s: from: %w", p.File, err)
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

// addBaseLayers puts the base image's layers first in the report.
func addBaseLayers(r *report.Report, base *image.Previous) {
	if base == nil {
		return
	}
	m, err := base.Image.Manifest()
	if err != nil {
		return
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
		ls = append(ls, report.Layer{Name: name, Digest: d.Digest.String(), Size: d.Size, Paths: paths, Status: BaseStatus})
		r.ImageSize += d.Size
	}
	r.Layers = append(ls, r.Layers...)
}
