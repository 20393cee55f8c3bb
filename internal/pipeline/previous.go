package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
)

// errNoRegistry is a programming error: registry work without a client.
var errNoRegistry = errors.New("pipeline: a registry client is required to read images")

// readPrevious reads every image in refs (manifest and config only). A
// previous image is an optimisation: one that is missing, or that cannot
// be read as an image of ours (an index without our platform, schema 1, a
// config that is not JSON or too large, a registry that refuses access) is
// named in a warning and not used — every layer it could have supplied is
// rebuilt, and the push then repairs the tag. An image a registry answers
// "blob unknown" for (GHCR does, for a while after an upload) is retried
// first.
//
// A network failure (nothing listening, DNS, TLS, a stall; see
// regclient.IsNetwork) on pushHost, the registry the run publishes to,
// ends the run here, before any layer is built: the push would fail the
// same way after the whole build. On any other registry (--cache-from
// elsewhere) it only warns. Cancellation always stops the run.
//
// An index is read as its child for platform.
//
// absent lists the references the registry answered "not found" for.
func readPrevious(ctx context.Context, c *regclient.Client, refs []name.Reference, platform v1.Platform, pushHost string, log *logger) (out []*image.Previous, absent map[string]bool, err error) {
	if len(refs) > 0 && c == nil {
		return nil, nil, errNoRegistry
	}
	absent = map[string]bool{}
	for _, r := range refs {
		p, err := readPreviousOnce(ctx, c, r, platform)
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case err != nil && regclient.IsNetwork(err) && r.Context().RegistryStr() == pushHost:
			return nil, nil, c.Err(&regclient.UnreachableError{Registry: pushHost, Err: err})
		case err != nil:
			// LoadPrevious's "read REF: " would name the image twice.
			why := strings.TrimPrefix(c.Err(err).Error(), "read "+r.String()+": ")
			log.printf("warning: previous image %s is not reused: %s; its layers are rebuilt", r, why)
			continue
		case p == nil:
			log.printf("no previous image at %s", r)
			absent[r.Name()] = true
			continue
		case p.Unusable != "":
			log.printf("warning: previous image %s (%s) is not reused: %s; its layers are rebuilt", r, p.Digest, p.Unusable)
		default:
			log.printf("previous image %s: %s (%s)", r, p.Digest, report.Count(len(p.Layers), "layer"))
		}
		out = append(out, p)
	}
	return out, absent, nil
}

func readPreviousOnce(ctx context.Context, c *regclient.Client, r name.Reference, platform v1.Platform) (*image.Previous, error) {
	for attempt := 1; ; attempt++ {
		p, err := image.LoadPrevious(ctx, c, r, platform)
		if err == nil || !regclient.IsBlobUnknown(err) && !regclient.IsNotFound(err) || attempt == 3 {
			return p, err
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

// readBase reads the plan's base image (from:) for platform (the child of
// an index), manifest and config only: its layers are reused by digest
// (cross-repo mounted on push) and never downloaded when the target
// registry can mount them. A base for another platform is an error.
func readBase(ctx context.Context, c *regclient.Client, p *plan.Plan, platform v1.Platform) (*image.Previous, error) {
	if p.From == "" {
		return nil, nil
	}
	ref, err := regclient.ParseReference(p.From)
	if err != nil {
		return nil, fmt.Errorf("%s: from: %w", p.File, err)
	}
	if c == nil {
		return nil, errNoRegistry
	}
	base, err := image.LoadPrevious(ctx, c, ref, platform)
	if err != nil {
		return nil, fmt.Errorf("%s: from: %w", p.File, c.Err(err))
	}
	if base == nil {
		return nil, fmt.Errorf("%s: from: base image %s not found", p.File, ref)
	}
	if base.Platform.Architecture != "" && !base.Platform.Satisfies(platform) {
		return nil, fmt.Errorf("%s: from: base image %s is for %s, not %s", p.File, ref, base.Platform.String(), platform.String())
	}
	return base, nil
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
