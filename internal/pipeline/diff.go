package pipeline

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/report"
)

// DiffOptions configure Diff.
type DiffOptions struct {
	PlanFile  string
	Against   string // the published image to compare with
	Nix       NixOptions
	Keychain  authn.Keychain
	Transport http.RoundTripper
	Secrets   []string
}

// DiffResult is the package diff between a plan and a published image.
type DiffResult struct {
	Resolved       *Resolved
	Diff           *report.Diff
	PreviousDigest string // "" when nothing is published at Against
}

// Diff resolves the plan and compares its layers with the image published at
// Against, using only the manifest and config of that image (the per-layer
// path lists it carries in its history), never its layer blobs.
func Diff(ctx context.Context, o DiffOptions) (*DiffResult, error) {
	ref, err := name.ParseReference(o.Against)
	if err != nil {
		return nil, fmt.Errorf("--against %q: %w", o.Against, err)
	}
	res, err := Resolve(ctx, o.PlanFile, o.Nix)
	if err != nil {
		return nil, err
	}
	bo := Options{Keychain: o.Keychain, Transport: o.Transport, Secrets: o.Secrets}
	prev, err := image.LoadPrevious(ctx, ref, bo.remoteOptions(ctx)...)
	if err != nil {
		return nil, bo.redact(fmt.Errorf("reading %s: %w", ref, err))
	}
	out := &DiffResult{Resolved: res}
	var prevPaths []report.LayerPaths
	if prev != nil {
		out.PreviousDigest = prev.Digest.String()
		for _, pl := range prev.Layers {
			prevPaths = append(prevPaths, toLayerPaths(pl.Meta))
		}
	}
	var next []report.LayerPaths
	for _, l := range res.Layers {
		if l.Empty {
			continue
		}
		next = append(next, toLayerPaths(metaFor(res, l)))
	}
	out.Diff = report.ComputeDiff(prevPaths, next)
	return out, nil
}
