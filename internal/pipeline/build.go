package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/resolve"
)

// run is the state of one Build.
type run struct {
	o     Options
	log   *logger
	res   *resolve.Resolved
	prevs []*image.Previous
	// targetAbsent: the registry answered "not found" for the target.
	targetAbsent bool
	// writers lends gzip writers from one layer build to the next.
	writers layer.Writers
	// listed reports blobs the target's current manifest lists (the
	// registry keeps them): their reuse needs no HEAD.
	listed func(v1.Hash) bool
	// entries records what the layer writer wrote of store paths not on
	// this machine, for the config check.
	entries *resolve.EntryLog
	// temp accounts for the layer files in the run's temp dir.
	temp tempSpace
}

// Build runs the whole job: resolve the plan, reuse or build each layer,
// assemble the image and, when pub is not nil, publish it through pub.
// It returns the report.
func Build(ctx context.Context, o Options, pub publish.Publisher) (*report.Report, error) {
	res, err := BuildResult(ctx, o, pub)
	if err != nil {
		return nil, err
	}
	return res.Report, nil
}

// BuildResult is Build, returning with the report the resolution the image
// was built from (its closure graph and roots, for the SBOM).
func BuildResult(ctx context.Context, o Options, pub publish.Publisher) (*Result, error) {
	format, err := resolve.CheckFormat(o.Format)
	if err != nil {
		return nil, err
	}
	o.Format = format
	r := &run{o: o, log: newLogger(o.Log)}
	rep, err := r.buildImage(ctx, pub)
	if err != nil {
		return nil, err
	}
	return &Result{Report: rep, Resolved: r.res, target: o.Target, created: o.Created}, nil
}

// buildImage is Build's work.
func (r *run) buildImage(ctx context.Context, pub publish.Publisher) (*report.Report, error) {
	o := r.o
	if o.Progress != nil {
		stop := o.Progress.Start()
		defer func() { stop(); r.log.printf("took: %s", o.Progress.Summary()) }()
	}
	if err := r.resolve(ctx); err != nil {
		return nil, err
	}
	// A config.check: strict failure that needs no layer is found now,
	// before any registry work; the check is repeated on the layers as
	// written.
	if _, err := r.res.CheckConfig(); err != nil {
		return nil, err
	}
	r.enter(PhasePrevious, "")
	prevs, absent, err := readPrevious(ctx, o.Registry, o.Previous, r.res.Platform, pushHost(o, pub), r.log)
	if err != nil {
		return nil, err
	}
	r.prevs = prevs
	r.targetAbsent = o.Target != nil && absent[o.Target.Name()]

	tmp, err := os.MkdirTemp(o.TempDir, "nix-layer-action-")
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	r.enter(PhaseLayers, "")
	r.informTarget(pub)
	w, _ := pub.(publish.LayerWriter)
	src := r.source()
	r.entries = resolve.NewEntryLog(r.res)
	ls, err := r.layers(ctx, src, tmp, w)
	defer closeLayers(ls)
	if err != nil {
		return nil, err
	}
	if err := r.checkConfig(); err != nil {
		return nil, err
	}
	rep, err := r.finish(ctx, ls, pub)
	var mb *publish.MissingBlobsError
	if errors.As(err, &mb) {
		r.log.printf("warning: %v; rebuilding the layers they belonged to", mb)
		if err := r.rebuild(ctx, ls, mb.Digests, src, tmp, w); err != nil {
			return nil, err
		}
		rep, err = r.finish(ctx, ls, pub)
	}
	return rep, err
}

// pushHost is the registry pub publishes to ("" when it publishes to none).
func pushHost(o Options, pub publish.Publisher) string {
	if _, ok := pub.(publish.Target); !ok || o.Target == nil {
		return ""
	}
	return o.Target.Context().RegistryStr()
}

// finish assembles the image, fills the report and publishes.
func (r *run) finish(ctx context.Context, ls []*imageLayer, pub publish.Publisher) (*report.Report, error) {
	img, err := r.assemble(ls)
	if err != nil {
		return nil, err
	}
	rep, err := r.report(ls, img)
	if err != nil {
		return nil, err
	}
	if pub == nil {
		r.log.printf("push disabled: image %s not published", rep.Digest)
		return rep, nil
	}
	r.enter(PhasePublish, " "+pub.Destination())
	if err := r.publish(ctx, pub, img, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// rebuild builds again the reused layers whose blobs are gone.
func (r *run) rebuild(ctx context.Context, ls []*imageLayer, gone []v1.Hash, src layer.Source, tmp string, w publish.LayerWriter) error {
	for _, il := range ls {
		if il.layer == nil || il.built != nil || il.streamed {
			continue
		}
		if d, err := il.layer.Digest(); err == nil && slices.Contains(gone, d) {
			il.layer, il.status = nil, ""
		}
	}
	up := newUploads(ctx, w, r.o.UploadJobs)
	return up.wait(r.build(up.ctx, ls, src, tmp, up))
}

func closeLayers(ls []*imageLayer) {
	for _, l := range ls {
		if l.built != nil {
			l.built.Close()
		}
	}
}

// source reads each store path from the local store or, for paths only a
// binary cache has, from its NAR.
func (r *run) source() layer.Source {
	return r.res.Source(r.o.Substituter)
}

// informTarget tells a publisher replacing the target what the target
// holds now (read as the previous image), so it neither asks again nor
// re-checks the blobs it lists.
func (r *run) informTarget(pub publish.Publisher) {
	t, ok := pub.(publish.Target)
	target := targetOf(r.o.Target, r.prevs)
	if ok && r.targetAbsent {
		t.Absent()
	}
	if !ok || target == nil {
		return
	}
	m, err := target.Image.Manifest()
	if err != nil {
		return
	}
	t.Current(target.Digest, m)
	r.listed = t.Listed
}

// resolve reads the plan, the base image and the closure (a bad plan fails
// before any build or network work; a base image is read, manifest and
// config only, after the plan has been validated).
func (r *run) resolve(ctx context.Context) error {
	r.enter(PhaseResolve, "")
	r.log.printf("resolving %s", r.o.PlanFile)
	base := func(ctx context.Context, p *plan.Plan, platform v1.Platform) (*image.Previous, error) {
		return readBase(ctx, r.o.Registry, p, platform)
	}
	var err error
	if r.res, err = resolve.ResolveWithBase(ctx, r.o.PlanFile, r.o.Nix, r.o.Substituter, r.o.Format, base); err != nil {
		return err
	}
	for _, w := range r.res.Warnings {
		r.log.printf("warning: %s", w)
	}
	return nil
}

// assemble puts the layers (on top of the base image) into an image with
// the plan's config.
func (r *run) assemble(ls []*imageLayer) (v1.Image, error) {
	var named []image.Named
	for _, l := range ls {
		if l.layer != nil {
			named = append(named, image.Named{Layer: l.layer, Meta: l.meta, Annotations: l.annotations})
		}
	}
	cfg := r.res.Plan.Config
	labels, annotations := imageMetadata(r.o.Metadata, r.o.Labels, cfg.Labels, r.o.Annotations)
	var base v1.Image
	if r.res.Base != nil {
		base = r.res.Base.Image
	}
	img, err := image.Assemble(base, named, image.ConfigOptions{
		Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env,
		WorkingDir: cfg.WorkingDir, User: cfg.User, ExposedPorts: cfg.ExposedPorts,
		Labels: labels, Created: r.o.Created, Platform: r.res.Platform,
	})
	if err != nil {
		return nil, err
	}
	if len(annotations) > 0 {
		img = mutate.Annotations(img, annotations).(v1.Image)
	}
	return img, nil
}

// publish writes the image through pub and fills the report's push
// figures.
func (r *run) publish(ctx context.Context, pub publish.Publisher, img v1.Image, rep *report.Report) error {
	r.log.printf("publishing to %s", pub.Destination())
	res, err := pub.Publish(ctx, img)
	if err != nil {
		return err
	}
	rep.Changed = res.Changed
	rep.BytesPushed = res.BytesPushed
	applyStatus(rep, res.Status)
	if res.SupersededBy != "" {
		rep.SupersededBy = res.SupersededBy
		w := fmt.Sprintf("%s now holds %s, not this run's %s: another run pushed to it after this one", pub.Destination(), res.SupersededBy, rep.Digest)
		rep.Warnings = append(rep.Warnings, w)
		r.log.printf("warning: %s", w)
	}
	return nil
}
