package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/report"
)

// Options configure Build. Everything the pipeline needs from the
// environment arrives here; the pipeline itself reads no variables.
type Options struct {
	PlanFile  string
	Image     string         // target reference; required for registry output
	Output    publish.Output // zero value = registry
	Tags      []string       // extra tags
	CacheFrom []string       // further images whose layers may be reused
	// Push=false builds and reports only (the action's push: false and PR checks).
	Push bool

	Nix      NixOptions
	TempDir  string    // parent of the run's temp dir ("" = os.TempDir())
	Created  time.Time // image creation time (SOURCE_DATE_EPOCH); zero = Unix 1
	System   string    // Nix system, e.g. "x86_64-linux"; "" = this machine's
	Jobs     int       // layers built at once; 0 = GOMAXPROCS
	Log      io.Writer // progress lines; nil = discard
	Keychain authn.Keychain
	// Transport is the HTTP transport for registry traffic (tests inject faults here).
	Transport http.RoundTripper
	// Secrets are redacted from any error text (tokens).
	Secrets []string
	// Labels are added to the image config's labels (plan labels win).
	Labels map[string]string
	// Annotations are set on the image manifest.
	Annotations map[string]string
	// Phase, when set, is called as each phase starts (the action turns
	// phases into log groups).
	Phase func(name string)
}

func (o *Options) phase(name string) {
	if o.Phase != nil {
		o.Phase(name)
	}
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Build runs the whole job: resolve, reuse or build each layer, assemble the
// image, publish it, and return the report.
func Build(ctx context.Context, o Options) (*report.Report, error) {
	if o.Output.Kind == "" {
		o.Output.Kind = "registry"
	}
	if o.Log != nil {
		// Layers are built and checked concurrently; their log lines must
		// not interleave (or race on a writer that is not goroutine-safe).
		o.Log = &lockedWriter{w: o.Log}
	}
	var ref name.Reference
	if o.Image != "" {
		r, err := name.ParseReference(o.Image)
		if err != nil {
			return nil, fmt.Errorf("--image %q: %w", o.Image, err)
		}
		ref = r
	} else if o.Output.Kind == "registry" && o.Push {
		return nil, errors.New("--image is required for registry output")
	}
	if ref != nil {
		for _, t := range o.Tags {
			if _, err := name.NewTag(ref.Context().String() + ":" + t); err != nil {
				return nil, fmt.Errorf("--tag %q: %w", t, err)
			}
		}
	}
	var cacheRefs []name.Reference
	for _, c := range o.CacheFrom {
		r, err := name.ParseReference(c)
		if err != nil {
			return nil, fmt.Errorf("--cache-from %q: %w", c, err)
		}
		cacheRefs = append(cacheRefs, r)
	}

	// 1. plan → closure → layering (a bad plan fails before any build or
	// network work; a base image is read, manifest and config only, after
	// the plan has been validated).
	o.phase("Resolve plan and closures")
	o.logf("resolving %s", o.PlanFile)
	p, err := plan.Load(o.PlanFile)
	if err != nil {
		return nil, err
	}
	ropts := o.remoteOptions(ctx)
	base, err := loadBase(ctx, p, ropts)
	if err != nil {
		return nil, o.redact(err)
	}
	res, err := resolvePlan(ctx, p, o.Nix, base)
	if err != nil {
		return nil, err
	}
	arch, err := o.architecture(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		o.logf("warning: %s", w)
	}

	// 2. previous images: manifest + config only.
	o.phase("Read previous images")
	prevs, err := loadPrevious(ctx, ref, cacheRefs, ropts, o.logf)
	if err != nil {
		return nil, o.redact(err)
	}
	var target *image.Previous
	if ref != nil && len(prevs) > 0 && prevs[0].Ref.Name() == ref.Name() {
		target = prevs[0]
	}

	// 3. reuse or build every non-empty layer.
	tmp, err := os.MkdirTemp(o.TempDir, "nix-layer-action-")
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	o.phase("Reuse or build layers")
	ls, err := o.layers(ctx, res, prevs, tmp)
	defer func() {
		for _, l := range ls {
			if l.built != nil {
				l.built.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	// 4. image.
	var named []image.Named
	for _, l := range ls {
		if l.layer != nil {
			named = append(named, image.Named{Layer: l.layer, Meta: l.meta})
		}
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(1, 0).UTC()
	}
	cfg := res.Plan.Config
	labels := map[string]string{}
	for k, v := range o.Labels {
		labels[k] = v
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	var baseImg v1.Image
	if base != nil {
		baseImg = base.Image
	}
	img, err := image.Assemble(baseImg, named, image.ConfigOptions{
		Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env,
		WorkingDir: cfg.WorkingDir, User: cfg.User, ExposedPorts: cfg.ExposedPorts,
		Labels: labels, Created: created, Architecture: arch, OS: "linux",
	})
	if err != nil {
		return nil, err
	}
	if len(o.Annotations) > 0 {
		img = mutate.Annotations(img, o.Annotations).(v1.Image)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}

	// 5. publish.
	rep := newReport(o, res, ls, digest, target)
	addBaseLayers(rep, base)
	if !o.Push || o.Output.Kind != "registry" {
		for i := range rep.Layers {
			if rep.Layers[i].Status == "" {
				rep.Layers[i].Status = report.StatusBuilt
			}
		}
	}
	if !o.Push {
		o.logf("push disabled: image %s not published", digest)
		return rep, nil
	}
	o.phase("Publish " + o.Output.Kind)
	if err := o.publish(ctx, img, ref, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// publish writes the image to its destination and fills the report's
// push figures.
func (o *Options) publish(ctx context.Context, img v1.Image, ref name.Reference, rep *report.Report) error {
	switch o.Output.Kind {
	case "registry":
		o.logf("pushing %s", ref)
		pr, err := publish.Registry(ctx, img, ref, o.Tags, publish.Options{
			Keychain: o.keychain(), Transport: o.Transport, Jobs: o.Jobs, Secrets: o.Secrets,
		})
		if err != nil {
			return o.redact(err)
		}
		rep.Changed = pr.Changed
		rep.BytesPushed = pr.BytesPushed
		applyStatus(rep, pr.Status)
	case "oci":
		if _, err := publish.OCILayout(o.Output.Path, img, o.Image); err != nil {
			return err
		}
		rep.Changed = true
	case "docker-archive":
		if ref == nil {
			ref, _ = name.ParseReference("nix-layer-action:latest")
		}
		if _, err := publish.DockerArchive(o.Output.Path, img, ref); err != nil {
			return err
		}
		rep.Changed = true
	default:
		return fmt.Errorf("unknown output kind %q", o.Output.Kind)
	}
	return nil
}

func loadPrevious(ctx context.Context, ref name.Reference, cache []name.Reference, ropts []remote.Option, logf func(string, ...any)) ([]*image.Previous, error) {
	var out []*image.Previous
	refs := cache
	if ref != nil {
		refs = append([]name.Reference{ref}, cache...)
	}
	for _, r := range refs {
		p, err := loadPreviousOnce(ctx, r, ropts, logf)
		if err != nil {
			return nil, fmt.Errorf("reading previous image %s: %w", r, publish.WithStatus(err))
		}
		if p == nil {
			logf("no previous image at %s", r)
			continue
		}
		logf("previous image %s: %s (%d layers)", r, p.Digest, len(p.Layers))
		out = append(out, p)
	}
	return out, nil
}

// loadPreviousOnce reads a previous image. A registry may answer "blob
// unknown" for a while after an upload (GHCR does, transiently): such an
// answer is retried, and if it persists the image is not used (its layers
// are rebuilt and HEAD-checked on push), which is always safe.
func loadPreviousOnce(ctx context.Context, r name.Reference, ropts []remote.Option, logf func(string, ...any)) (*image.Previous, error) {
	for attempt := 1; ; attempt++ {
		p, err := image.LoadPrevious(ctx, r, ropts...)
		var terr *transport.Error
		if err == nil || !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
			return p, err
		}
		if attempt == 3 {
			logf("warning: previous image %s is unreadable (%v); not reusing its layers", r, err)
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}

func (o *Options) keychain() authn.Keychain {
	if o.Keychain != nil {
		return o.Keychain
	}
	return authn.DefaultKeychain
}

func (o *Options) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithRetryBackoff(publish.DefaultBackoff),
		remote.WithRetryStatusCodes(publish.RetryStatusCodes...),
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// redact removes secrets from an error's text, keeping it unwrappable.
func (o *Options) redact(err error) error {
	if err == nil || len(o.Secrets) == 0 {
		return err
	}
	msg := publish.Redact(err.Error(), o.Secrets)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// architecture is the image's architecture: from --system, else from the
// Nix system the closures were built for (asked from Nix), else this
// machine's (a plan that reads a closure graph runs no Nix).
func (o *Options) architecture(ctx context.Context, p *plan.Plan) (string, error) {
	sys := o.System
	if sys == "" && p.ClosureGraph == "" {
		n := &closure.Nix{Bin: o.Nix.Bin, Dir: p.Dir, Env: o.Nix.Env}
		s, err := n.CurrentSystem(ctx)
		if err != nil {
			return "", fmt.Errorf("asking nix for its system (set --system to skip): %w", err)
		}
		sys = s
	}
	return image.ArchFromSystem(systemOrHost(sys))
}

func systemOrHost(s string) string {
	if s != "" {
		return s
	}
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux"
	default:
		return "x86_64-linux"
	}
}
