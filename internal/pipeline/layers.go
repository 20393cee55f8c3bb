package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
)

// builtLayer is one planned layer on its way into the image.
type builtLayer struct {
	plan         layering.Layer
	layer        v1.Layer     // nil for empty layers
	built        *layer.Built // set when built here (owns a temp file)
	reused       *image.Previous
	meta         image.LayerMeta
	status       string // "cached" when reused by key, "empty"; else filled from publish
	uncompressed int64
	warning      string // set when a rebuild under a known key gave other bytes
}

// reuseChecks is how many reuse checks (one HEAD each, network-bound) run
// at once; builds are bounded by the CPU budget instead.
const reuseChecks = 8

// layers reuses every layer whose key a previous image carries (after
// checking the previous image is telling the truth about it) and builds the
// rest, concurrently within the CPU budget. A reused layer is never read,
// tarred or compressed here. The reuse checks all run first, side by side,
// so a no-change run costs one round of HEADs, not one per build slot.
func (o *Options) layers(ctx context.Context, res *Resolved, prevs []*image.Previous, tmp string) ([]*builtLayer, error) {
	out := make([]*builtLayer, len(res.Layers))
	for i, pl := range res.Layers {
		out[i] = &builtLayer{plan: pl, meta: metaFor(res, pl)}
		if pl.Empty {
			out[i].status = "empty"
		}
	}

	if o.Output.Kind == "registry" && len(prevs) > 0 {
		var g errgroup.Group
		g.SetLimit(reuseChecks)
		for _, bl := range out {
			if bl.plan.Empty {
				continue
			}
			g.Go(func() error {
				if prev, prevL, ok := o.reusable(prevs, bl); ok {
					// Each goroutine writes only its own layer.
					bl.layer, bl.reused, bl.status = prevL.Layer, prev, "cached"
					bl.uncompressed = prevL.Meta.UncompressedSize
					bl.meta.UncompressedSize = prevL.Meta.UncompressedSize
				}
				return nil
			})
		}
		g.Wait()
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}

	jobs := o.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	var mu sync.Mutex
	for _, bl := range out {
		if bl.plan.Empty || bl.layer != nil {
			continue
		}
		pl := bl.plan
		spec, err := o.layerSpec(res, pl)
		if err != nil {
			return out, err
		}
		g.Go(func() error {
			o.logf("building layer %s (%d paths)", pl.Name, len(pl.Paths))
			b, err := layer.Build(gctx, spec, layer.Options{TempDir: tmp})
			if err != nil {
				return fmt.Errorf("layer %s: %w", pl.Name, err)
			}
			mu.Lock()
			bl.built, bl.layer, bl.uncompressed = b, b, b.UncompressedSize()
			bl.meta.UncompressedSize = b.UncompressedSize()
			mu.Unlock()
			if msg := reproducibilityWarning(prevs, pl, b); msg != "" {
				o.logf("WARNING: %s", msg)
				mu.Lock()
				bl.warning = msg
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return out, err
	}
	return out, nil
}

// reproducibilityWarning says so when a layer rebuilt under a key a previous
// image already had comes out with other bytes than that image's layer.
func reproducibilityWarning(prevs []*image.Previous, pl layering.Layer, b *layer.Built) string {
	for _, prev := range prevs {
		prevL, ok := prev.ByKey(pl.Key)
		if !ok {
			continue
		}
		if !prevL.Meta.Truncated && len(prevL.Meta.Paths) > 0 && !samePaths(prevL.Meta, pl.Paths) {
			// Not a build of these paths (the key lies): its bytes say
			// nothing about reproducibility.
			continue
		}
		d, err := b.Digest()
		if err == nil && prevL.Descriptor.Digest != d {
			return fmt.Sprintf("layer %s was rebuilt under key %s and gives %s, but %s has %s under the same key: the store's bytes are not reproducible (a non-deterministic build, or a store modified after registration)",
				pl.Name, pl.Key, d, prev.Ref, prevL.Descriptor.Digest)
		}
		return ""
	}
	return ""
}

// reusable finds a previous layer with bl's key that can be trusted: its
// recorded path list (when complete) is the planned one, and its blob is
// present where it lives (checked with the library's HEAD, not downloaded).
// A previous image written by someone else may carry any annotation; one
// that lies falls back to a rebuild.
func (o *Options) reusable(prevs []*image.Previous, bl *builtLayer) (*image.Previous, image.PreviousLayer, bool) {
	for _, prev := range prevs {
		prevL, ok := prev.ByKey(bl.plan.Key)
		if !ok {
			continue
		}
		if !prevL.Meta.Truncated && len(prevL.Meta.Paths) > 0 && !samePaths(prevL.Meta, bl.plan.Paths) {
			o.logf("not reusing layer %s from %s: its key matches but its recorded paths differ", bl.plan.Name, prev.Ref)
			continue
		}
		if ex, ok := prevL.Layer.(interface{ Exists() (bool, error) }); ok {
			present, err := ex.Exists()
			if err != nil || !present {
				o.logf("not reusing layer %s from %s: blob %s is not there", bl.plan.Name, prev.Ref, prevL.Descriptor.Digest)
				continue
			}
		}
		return prev, prevL, true
	}
	return nil, image.PreviousLayer{}, false
}

func samePaths(m image.LayerMeta, paths []string) bool {
	got := make([]string, 0, len(m.Paths))
	for _, p := range m.Paths {
		got = append(got, p.Path)
	}
	slices.Sort(got)
	return slices.Equal(got, paths)
}

// layerSpec is what layer.Build needs for a planned layer.
func (o *Options) layerSpec(res *Resolved, pl layering.Layer) (layer.Spec, error) {
	spec := layer.Spec{
		Name:      pl.Name,
		Paths:     pl.Paths,
		StoreRoot: res.Plan.StoreRoot,
		StoreDir:  res.Plan.StoreDir,
		Perms:     layerPerms(res.Perms[pl.Name]),
	}
	if pl.Name == res.RootFilesLayer {
		spec.Files = res.RootFiles
	}
	return spec, nil
}
