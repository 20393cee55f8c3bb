package pipeline

import (
	"context"
	"errors"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/resolve"
	"github.com/org/nix-layer-action/internal/substituter"
)

// DiffOptions configure Diff.
type DiffOptions struct {
	PlanFile string
	Against  name.Reference // the published image to compare with
	Nix      resolve.NixOptions
	Registry *regclient.Client
	// Substituter gives closure metadata of paths the local store lacks.
	Substituter *substituter.Client
	// Format is the layer format the plan would be built in (zero:
	// layer.DefaultFormat): it decides the keys, and so which layers
	// would be rebuilt.
	Format layer.Format
}

// DiffResult is the package diff between a plan and a published image.
type DiffResult struct {
	Resolved       *resolve.Resolved
	Diff           *report.Diff
	PreviousDigest string // "" when nothing is published at Against
}

// Diff resolves the plan and compares its layers with the image published at
// Against, using only the manifest and config of that image (the per-layer
// path lists it carries in its history), never its layer blobs.
func Diff(ctx context.Context, o DiffOptions) (*DiffResult, error) {
	if o.Registry == nil || o.Against == nil {
		return nil, errors.New("pipeline: Diff needs a registry client and an image to compare with")
	}
	res, err := resolve.Resolve(ctx, o.PlanFile, o.Nix, o.Substituter, o.Format)
	if err != nil {
		return nil, err
	}
	prev, err := image.LoadPrevious(ctx, o.Registry, o.Against, res.Platform)
	if err != nil {
		return nil, o.Registry.Err(err)
	}
	out := &DiffResult{Resolved: res}
	var prevPaths []report.LayerPaths
	if prev != nil {
		out.PreviousDigest = prev.Digest.String()
		for _, pl := range prev.Layers {
			prevPaths = append(prevPaths, toLayerPaths(pl.Meta, compressionOf(pl.Descriptor.MediaType)))
		}
	}
	var next []report.LayerPaths
	for _, l := range res.Layers {
		if !l.Empty {
			next = append(next, toLayerPaths(metaFor(res, l), string(l.Spec.Format.Compression)))
		}
	}
	out.Diff = report.ComputeDiff(prevPaths, next)
	return out, nil
}
