package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/report"
)

// imageLayer is one planned layer on its way into the image.
type imageLayer struct {
	plan         Planned
	layer        v1.Layer     // nil for empty layers
	built        *layer.Built // set when built here (owns a temp file)
	meta         image.LayerMeta
	status       report.Status // cached when reused by key, empty; else filled from publishing
	uncompressed int64
	warning      string // set when a rebuild under a known key gave other bytes
}

// reuseChecks is how many reuse checks (one HEAD each, network-bound) run
// at once; builds are bounded by the CPU budget instead.
const reuseChecks = 8

// layers reuses every layer whose key a previous image carries (after
// checking the previous image is telling the truth about it) and builds
// the rest, concurrently within the CPU budget, from src. A reused layer
// is never read, tarred or compressed here. The reuse checks all run
// first, side by side, so a no-change run costs one round of HEADs.
func (r *run) layers(ctx context.Context, src layer.Source, tmp string) ([]*imageLayer, error) {
	out := make([]*imageLayer, len(r.res.Layers))
	for i, pl := range r.res.Layers {
		out[i] = &imageLayer{plan: pl, meta: metaFor(r.res, pl)}
		if pl.Empty {
			out[i].status = report.StatusEmpty
		}
	}
	r.reuse(ctx, out)
	if err := ctx.Err(); err != nil {
		return out, err
	}
	return out, r.build(ctx, out, src, tmp)
}

// reuse marks every layer a previous image can supply.
func (r *run) reuse(ctx context.Context, ls []*imageLayer) {
	if len(r.prevs) == 0 {
		return
	}
	var g errgroup.Group
	g.SetLimit(reuseChecks)
	for _, il := range ls {
		if il.plan.Empty {
			continue
		}
		g.Go(func() error {
			if prevL, ok := r.reusable(ctx, il); ok {
				// Each goroutine writes only its own layer.
				il.layer, il.status = prevL.Layer, report.StatusCached
				il.uncompressed = prevL.Meta.UncompressedSize
				il.meta.UncompressedSize = prevL.Meta.UncompressedSize
			}
			return nil
		})
	}
	g.Wait()
}

// build builds every layer not reused.
func (r *run) build(ctx context.Context, ls []*imageLayer, src layer.Source, tmp string) error {
	jobs := r.o.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, il := range ls {
		if il.plan.Empty || il.layer != nil {
			continue
		}
		g.Go(func() error {
			r.log.printf("building layer %s (%s)", il.plan.Name, count(len(il.plan.Paths), "path"))
			b, err := layer.Build(gctx, il.plan.Spec, src, layer.Options{TempDir: tmp})
			if err != nil {
				return err
			}
			// Each goroutine writes only its own layer.
			il.built, il.layer, il.uncompressed = b, b, b.UncompressedSize()
			il.meta.UncompressedSize = b.UncompressedSize()
			if msg := reproducibilityWarning(r.prevs, il.plan, b); msg != "" {
				r.log.printf("WARNING: %s", msg)
				il.warning = msg
			}
			return nil
		})
	}
	return g.Wait()
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// reproducibilityWarning says so when a layer rebuilt under a key a previous
// image already had comes out with other bytes than that image's layer.
func reproducibilityWarning(prevs []*image.Previous, pl Planned, b *layer.Built) string {
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

// reusable finds a previous layer with il's key that can be trusted: its
// recorded path list (when complete) is the planned one, and its blob is
// present where it lives (checked with the library's HEAD, not downloaded).
// A previous image written by someone else may carry any annotation; one
// that lies falls back to a rebuild.
func (r *run) reusable(_ context.Context, il *imageLayer) (image.PreviousLayer, bool) {
	for _, prev := range r.prevs {
		prevL, ok := prev.ByKey(il.plan.Key)
		if !ok {
			continue
		}
		if !prevL.Meta.Truncated && len(prevL.Meta.Paths) > 0 && !samePaths(prevL.Meta, il.plan.Paths) {
			r.log.printf("not reusing layer %s from %s: its key matches but its recorded paths differ", il.plan.Name, prev.Ref)
			continue
		}
		if ex, ok := prevL.Layer.(interface{ Exists() (bool, error) }); ok {
			present, err := ex.Exists()
			if err != nil || !present {
				r.log.printf("not reusing layer %s from %s: blob %s is not there", il.plan.Name, prev.Ref, prevL.Descriptor.Digest)
				continue
			}
		}
		return prevL, true
	}
	return image.PreviousLayer{}, false
}

func samePaths(m image.LayerMeta, paths []string) bool {
	got := make([]string, 0, len(m.Paths))
	for _, p := range m.Paths {
		got = append(got, p.Path)
	}
	slices.Sort(got)
	return slices.Equal(got, paths)
}

// metaFor is what the image records about a layer so later runs (and PR
// diffs) can compare without pulling blobs.
func metaFor(res *Resolved, l Planned) image.LayerMeta {
	m := image.LayerMeta{Name: l.Name, Key: l.Key}
	for _, p := range l.Paths {
		info, _ := res.Graph.Info(p)
		m.Paths = append(m.Paths, image.PathSize{Path: p, NarSize: info.NarSize})
	}
	return m
}
