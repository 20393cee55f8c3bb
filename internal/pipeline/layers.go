package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/publish"
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
	warning      string            // set when a rebuild under a known key gave other bytes
	annotations  map[string]string // the format's descriptor annotations (zstd:chunked)
}

// reuseChecks is how many reuse checks (one HEAD each, network-bound) run
// at once; builds are bounded by the CPU budget instead.
const reuseChecks = 8

// layers reuses every layer whose key a previous image carries (after
// checking the previous image is telling the truth about it) and builds
// the rest, concurrently within the CPU budget, from src. A reused layer
// is never read, tarred or compressed here. The reuse checks all run
// first, side by side, so a no-change run costs at most one round of
// HEADs. With a publisher that takes layers early (w), each layer's blob
// goes up as soon as it is built or chosen, within the upload budget,
// while other layers still build.
func (r *run) layers(ctx context.Context, src layer.Source, tmp string, w publish.LayerWriter) ([]*imageLayer, error) {
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
	up := newUploads(ctx, w, r.o.UploadJobs)
	for _, il := range out {
		if il.layer != nil {
			up.add(il.layer) // reused: a mount, or nothing when the tag lists it
		}
	}
	err := r.build(up.ctx, out, src, tmp, up)
	return out, up.wait(err)
}

// uploads runs WriteLayer for layers as they become ready, at most jobs
// at once; the first failure cancels the builds still running.
type uploads struct {
	w      publish.LayerWriter
	ctx    context.Context
	cancel context.CancelFunc
	g      *errgroup.Group
	sem    chan struct{}
}

// defaultUploadJobs is how many blobs go up at once unless told otherwise.
const defaultUploadJobs = 4

func newUploads(ctx context.Context, w publish.LayerWriter, jobs int) *uploads {
	if jobs <= 0 {
		jobs = defaultUploadJobs
	}
	cctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(cctx)
	return &uploads{w: w, ctx: gctx, cancel: cancel, g: g, sem: make(chan struct{}, jobs)}
}

func (u *uploads) add(l v1.Layer) {
	if u.w == nil {
		return
	}
	u.g.Go(func() error {
		select {
		case u.sem <- struct{}{}:
		case <-u.ctx.Done():
			return u.ctx.Err()
		}
		defer func() { <-u.sem }()
		return u.w.WriteLayer(u.ctx, l)
	})
}

// wait waits for every upload; a build error stops them and wins, unless
// the build was only cancelled because an upload failed (then that
// failure is the error).
func (u *uploads) wait(buildErr error) error {
	if buildErr != nil {
		u.cancel()
	}
	err := u.g.Wait()
	u.cancel()
	if buildErr != nil && (err == nil || !errors.Is(buildErr, context.Canceled) || errors.Is(err, context.Canceled)) {
		return buildErr
	}
	return err
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
			if l, prevL, ok := r.reusable(ctx, il); ok {
				// Each goroutine writes only its own layer.
				il.layer, il.status = l, report.StatusCached
				il.annotations = formatAnnotations(prevL.Descriptor.Annotations)
				il.uncompressed = prevL.Meta.UncompressedSize
				il.meta.UncompressedSize = prevL.Meta.UncompressedSize
				il.meta.Digest, il.meta.Size, il.meta.DiffID = prevL.Meta.Digest, prevL.Meta.Size, prevL.Meta.DiffID
			}
			return nil
		})
	}
	g.Wait()
}

// build builds every layer not reused, handing each to up once built.
func (r *run) build(ctx context.Context, ls []*imageLayer, src layer.Source, tmp string, up *uploads) error {
	jobs := r.o.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, il := range largestFirst(ls) {
		if il.plan.Empty || il.layer != nil {
			continue
		}
		g.Go(func() error {
			r.log.printf("building layer %s (%s)", il.plan.Name, count(len(il.plan.Paths), "path"))
			t := r.task("build "+il.plan.Name, il.plan.NarSize)
			b, err := layer.Build(gctx, il.plan.Spec, countedSource{src, t}, layer.Options{TempDir: tmp, OnEntry: r.entries.record, Writers: &r.writers})
			t.Done()
			if err != nil {
				return err
			}
			// Each goroutine writes only its own layer.
			il.built, il.layer, il.uncompressed = b, b, b.UncompressedSize()
			il.annotations = b.Annotations()
			il.meta.UncompressedSize = b.UncompressedSize()
			d, _ := b.Digest()
			diffID, _ := b.DiffID()
			size, _ := b.Size()
			il.meta.Digest, il.meta.Size, il.meta.DiffID = d.String(), size, diffID.String()
			if msg := reproducibilityWarning(r.prevs, il.plan, b); msg != "" {
				r.log.printf("WARNING: %s", msg)
				il.warning = msg
			}
			up.add(r.counted(b))
			return nil
		})
	}
	return g.Wait()
}

// largestFirst orders layers for building by NAR size, largest first (plan
// order among equals): the last layers to finish are then small ones, so
// little upload is left when the last build ends.
func largestFirst(ls []*imageLayer) []*imageLayer {
	out := slices.Clone(ls)
	slices.SortStableFunc(out, func(a, b *imageLayer) int { return cmp.Compare(b.plan.NarSize, a.plan.NarSize) })
	return out
}

// counted wraps a built layer so its upload reports progress.
func (r *run) counted(b *layer.Built) v1.Layer {
	if r.o.Progress == nil {
		return b
	}
	size, _ := b.Size()
	return countedLayer{Layer: b, t: r.task("upload "+b.Name(), size)}
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
		if verify(prevL, pl.Paths, pl.Spec.Format.MediaType()) != "" {
			// Not provably a build of these paths: its bytes say nothing
			// about reproducibility.
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
