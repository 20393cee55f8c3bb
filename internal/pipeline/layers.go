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
	"github.com/org/nix-layer-action/internal/progress"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/resolve"
)

// imageLayer is one planned layer on its way into the image.
type imageLayer struct {
	plan        resolve.Planned
	layer       v1.Layer     // nil for empty layers
	built       *layer.Built // set when built here (owns a temp file)
	streamed    bool         // built here straight into its upload (no file)
	meta        image.LayerMeta
	status      report.Status     // cached when reused by key, empty; else filled from publishing
	warning     string            // set when a rebuild under a known key gave other bytes
	annotations map[string]string // the format's descriptor annotations (zstd:chunked)
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
	out = r.onShard(out)
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

// add writes l's blob once an upload slot is free, without waiting for
// one; then, once the registry confirmed it, runs each of after.
func (u *uploads) add(l v1.Layer, after ...func()) {
	if u.w == nil {
		return
	}
	u.g.Go(func() error {
		if err := u.acquire(u.ctx); err != nil {
			return err
		}
		return u.write(l, after)
	})
}

// handOver waits for an upload slot, then writes l's blob in the
// background and, once the registry confirmed it, runs each of after
// (which frees what only the upload needed: the layer's temp file). A
// build calls it before giving up its build slot, so builds never run
// ahead of uploads by more than the build budget: on a link slower than
// the builds, at most jobs + upload-jobs layer files are on disk, not the
// whole image.
func (u *uploads) handOver(ctx context.Context, l v1.Layer, after ...func()) error {
	if u.w == nil {
		return nil
	}
	if err := u.acquire(ctx); err != nil {
		return err
	}
	u.g.Go(func() error { return u.write(l, after) })
	return nil
}

// writeNow writes l's blob in an upload slot and returns once it is in.
func (u *uploads) writeNow(ctx context.Context, l v1.Layer) error {
	if err := u.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-u.sem }()
	return u.w.WriteLayer(ctx, l)
}

// acquire takes an upload slot, unless ctx ends first.
func (u *uploads) acquire(ctx context.Context) error {
	select {
	case u.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write writes l's blob in a slot already taken, and frees the slot.
func (u *uploads) write(l v1.Layer, after []func()) error {
	defer func() { <-u.sem }()
	if err := u.w.WriteLayer(u.ctx, l); err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
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
			if r.o.StreamLayers && up.w != nil {
				return r.stream(gctx, il, src, up)
			}
			r.log.printf("building layer %s (%s)", il.plan.Name(), report.Count(len(il.plan.Paths()), "path"))
			// The task counts what the layer holds, as plan and the table
			// print it: store bytes as they are read, then the root
			// layer's own files (not read through src).
			var t *progress.Task
			if size := il.plan.ContentSize(); size > 0 {
				t = r.task("build "+il.plan.Name(), size)
			}
			b, err := layer.Build(gctx, il.plan.Spec, countedSource{src, t}, layer.Options{TempDir: tmp, OnEntry: r.entries.Record, Writers: &r.writers})
			if err == nil {
				t.Add(il.plan.ContentSize() - il.plan.NarSize())
			}
			t.Done()
			if err != nil {
				return err
			}
			// Each goroutine writes only its own layer.
			il.built, il.layer = b, b
			il.annotations = b.Annotations()
			il.meta.UncompressedSize = b.UncompressedSize()
			d, _ := b.Digest()
			diffID, _ := b.DiffID()
			size, _ := b.Size()
			r.temp.add(size)
			il.meta.Digest, il.meta.Size, il.meta.DiffID = d.String(), size, diffID.String()
			if msg := reproducibilityWarning(r.prevs, il.plan, d); msg != "" {
				r.log.printf("WARNING: %s", msg)
				il.warning = msg
			}
			return up.handOver(gctx, r.counted(b), func() { r.release(b) })
		})
	}
	return g.Wait()
}

// stream writes a layer straight into its upload, with no file: it takes
// an upload slot (keeping its build slot: the upload is the build) and
// the bytes are produced as the upload reads them; a failed upload
// produces them again. Digest and sizes are known once it is in.
func (r *run) stream(ctx context.Context, il *imageLayer, src layer.Source, up *uploads) error {
	r.log.printf("building layer %s (%s) straight into its upload", il.plan.Name(), report.Count(len(il.plan.Paths()), "path"))
	// As build's task: store bytes as read (again for a retry), then
	// the root layer's own files.
	var t *progress.Task
	if size := il.plan.ContentSize(); size > 0 {
		t = r.task("build+upload "+il.plan.Name(), size)
	}
	defer t.Done()
	s, err := layer.Stream(ctx, il.plan.Spec, countedSource{src, t}, layer.Options{OnEntry: r.entries.Record, Writers: &r.writers})
	if err != nil {
		return err
	}
	if err := up.writeNow(ctx, s); err != nil {
		return err
	}
	t.Add(il.plan.ContentSize() - il.plan.NarSize())
	d, err := s.Digest()
	if err != nil {
		return err
	}
	diffID, _ := s.DiffID()
	size, _ := s.Size()
	// Each goroutine writes only its own layer.
	il.layer, il.streamed = s, true
	il.annotations = s.Annotations()
	il.meta.UncompressedSize = s.UncompressedSize()
	il.meta.Digest, il.meta.Size, il.meta.DiffID = d.String(), size, diffID.String()
	if msg := reproducibilityWarning(r.prevs, il.plan, d); msg != "" {
		r.log.printf("WARNING: %s", msg)
		il.warning = msg
	}
	return nil
}

// release removes a built layer's temp file once its blob is in the
// registry: the image needs only its digest, size, diffID and media type
// from then on (the manifest is written from those), so a cold push holds
// on disk only the layers built and not yet uploaded, not the whole image.
func (r *run) release(b *layer.Built) {
	if err := b.Close(); err != nil {
		r.log.printf("warning: %v", err)
		return
	}
	size, _ := b.Size()
	r.temp.remove(size)
}

// largestFirst orders layers for building by NAR size, largest first (plan
// order among equals): the last layers to finish are then small ones, so
// little upload is left when the last build ends.
func largestFirst(ls []*imageLayer) []*imageLayer {
	out := slices.Clone(ls)
	slices.SortStableFunc(out, func(a, b *imageLayer) int { return cmp.Compare(b.plan.NarSize(), a.plan.NarSize()) })
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

// reproducibilityWarning says so when a layer rebuilt under a key a previous
// image already had comes out with other bytes than that image's layer.
func reproducibilityWarning(prevs []*image.Previous, pl resolve.Planned, d v1.Hash) string {
	for _, prev := range prevs {
		prevL, ok := prev.ByKey(pl.Key)
		if !ok {
			continue
		}
		if prevL.Verify(pl.Paths(), pl.Spec.Format.MediaType()) != "" {
			// Not provably a build of these paths: its bytes say nothing
			// about reproducibility.
			continue
		}
		if prevL.Descriptor.Digest != d {
			return fmt.Sprintf("layer %s was rebuilt under key %s and gives %s, but %s has %s under the same key: the store's bytes are not reproducible (a non-deterministic build, or a store modified after registration)",
				pl.Name(), pl.Key, d, prev.Ref, prevL.Descriptor.Digest)
		}
		return ""
	}
	return ""
}

// metaFor is what the image records about a layer so later runs (and PR
// diffs) can compare without pulling blobs.
func metaFor(res *resolve.Resolved, l resolve.Planned) image.LayerMeta {
	m := image.LayerMeta{Name: l.Name(), Key: l.Key}
	for _, p := range l.Paths() {
		info, _ := res.Graph.Info(p)
		m.Paths = append(m.Paths, image.PathSize{Path: p, NarSize: info.NarSize})
	}
	return m
}
