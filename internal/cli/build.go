package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/action"
	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/progress"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/regclient"
)

type buildCmd struct {
	Env
	planFile    string
	image       string
	output      string
	report      string
	cacheFrom   listFlag
	tags        listFlag
	push        bool
	byDigest    bool
	tempDir     string
	system      string
	jobs        int
	uploads     int
	nixBin      string
	compression string
	shard       string
	layerFiles  bool
	registry    registryFlags
	supply      supplyFlags
}

func (c *buildCmd) Name() string { return "build" }
func (c *buildCmd) Synopsis() string {
	return "build the plan's image and push only the layers that changed"
}

func (c *buildCmd) flags() *flagSet {
	fs := newFlagSet("build", c.Stdout,
		"usage: nix-layer-action build --plan FILE --image REF [flags]",
		"",
		"Resolves the plan's Nix closures, assigns every store path to exactly one layer,",
		"reuses layers whose key an existing image (--image, --cache-from) already has,",
		"builds the rest once, and publishes the image. Registry credentials come from the",
		"Docker config (~/.docker/config.json) and GITHUB_TOKEN for ghcr.io.")
	fs.StringVar(&c.planFile, "plan", "", "layer plan: a file (YAML or JSON) or a flake output (.#imagePlan) (required)")
	fs.StringVar(&c.image, "image", "", "image reference to push to, e.g. ghcr.io/acme/app:latest (required for registry output)")
	fs.StringVar(&c.output, "output", "registry", "where the image goes: registry | oci:DIR[:TAG] | docker-archive:FILE")
	fs.Var(&c.cacheFrom, "cache-from", "further image whose layers may be reused (repeatable)")
	fs.StringVar(&c.report, "report", "", "write the JSON report to this file")
	fs.Var(&c.tags, "tag", "extra tag to point at the pushed image (repeatable)")
	fs.BoolVar(&c.push, "push", true, "publish the image; --push=false builds and reports only")
	fs.BoolVar(&c.byDigest, "push-by-digest", false, "push the image by digest only: no tag moves (--image's tag is still read for reuse); see merge and tag")
	fs.StringVar(&c.tempDir, "temp-dir", "", "parent directory for temporary layer files (default $RUNNER_TEMP or the system temp dir)")
	fs.StringVar(&c.system, "system", "", "Nix system to build for, e.g. aarch64-linux: .#app means packages.<system>.app (default: the plan's system:, else Nix's); the image's platform follows it")
	fs.IntVar(&c.jobs, "jobs", 0, "layers built at once (default: number of CPUs)")
	fs.IntVar(&c.uploads, "upload-jobs", 4, "blobs uploaded at once while layers build")
	fs.StringVar(&c.nixBin, "nix", "nix", "nix command to run")
	fs.StringVar(&c.compression, "compression", "gzip", compressionUsage)
	fs.BoolVar(&c.layerFiles, "layer-files", true, "write each built layer to a temp file before its upload; --layer-files=false writes it straight into its registry upload, no file (temp disk ≈ 0; a retry writes it again; a blob the registry already has is sent again)")
	fs.StringVar(&c.shard, "shard", "", "build and push by digest only part I of N of the layers (1-based, e.g. 1/4; same plan in every part, balanced by size); a final build with every part's digest as --cache-from reuses them all (see examples/sharded.yml)")
	c.registry.add(fs.FlagSet)
	c.supply.add(fs.FlagSet)
	return fs
}

func (c *buildCmd) Run(ctx context.Context, args []string) error {
	if help, err := parseFlags(c.flags(), args, c.Stderr); help || err != nil {
		return err
	}
	if c.planFile == "" {
		return errors.New("build: --plan is required")
	}
	s, err := c.newSession(c.registry)
	if err != nil {
		return err
	}
	return s.close(c.run(ctx, s))
}

func (c *buildCmd) run(ctx context.Context, s *session) error {
	o, pub, err := c.options(s)
	if err != nil {
		return err
	}
	if o.Substituter, err = substituterFor(ctx, o.Nix, s.secrets, s.logf); err != nil {
		return err
	}
	res, err := pipeline.BuildResult(ctx, o, pub)
	if err != nil {
		return err
	}
	rep := res.Report
	var errs []error
	if c.report != "" {
		if err := writeFileAtomic(c.report, rep.JSON); err != nil {
			errs = append(errs, fmt.Errorf("writing report: %w", err))
		}
	}
	if c.supply.sbom != "" {
		if err := writeSBOM(c.supply.sbom, res); err != nil {
			errs = append(errs, fmt.Errorf("writing SBOM: %w", err))
		}
	}
	if err := rep.Table(c.Stdout); err != nil {
		errs = append(errs, err)
	}
	return afterPublish(pub, rep.Image, rep.Digest, errors.Join(errs...))
}

// afterPublish is err, a failure to write what describes an image, as a
// *publish.PublishedError naming the image when it was published (so the
// digest is never lost in the failure, and the exit status says so).
func afterPublish(pub publish.Publisher, image, digest string, err error) error {
	if err == nil || pub == nil {
		return err
	}
	ref := action.DigestRef(image, digest)
	if image == "" {
		ref = pub.Destination() + "@" + digest
	}
	return &publish.PublishedError{Ref: ref, Err: err}
}

// options turns the flags into pipeline options and the publisher;
// every flag error is reported here, naming the flag, before any work.
func (c *buildCmd) options(s *session) (pipeline.Options, publish.Publisher, error) {
	out, err := publish.ParseOutput(c.output)
	if err != nil {
		return pipeline.Options{}, nil, fmt.Errorf("build: --output %q: %s", c.output, outputProblem(err, c.output))
	}
	if out.Kind == publish.KindRegistry && c.image == "" && c.push {
		return pipeline.Options{}, nil, errors.New("build: --image is required for registry output")
	}
	shard, err := c.checkShard(out)
	if err != nil {
		return pipeline.Options{}, nil, err
	}
	if err := c.checkByDigest(out); err != nil {
		return pipeline.Options{}, nil, err
	}
	if c.system != "" {
		if _, err := image.PlatformFromSystem(c.system); err != nil {
			return pipeline.Options{}, nil, fmt.Errorf("build: --system: %w", err)
		}
	}
	format, err := layerFormat("build", c.compression)
	if err != nil {
		return pipeline.Options{}, nil, err
	}
	if format.Compression == layer.Zstd && out.Kind == publish.KindDockerArchive {
		// docker load reads zstd layers only from Docker 23 on, and
		// other docker-archive readers may not at all: refuse rather
		// than write an archive that loads on some machines only.
		return pipeline.Options{}, nil, fmt.Errorf("build: --compression zstd cannot be used with --output %s: docker load reads zstd layers only from Docker 23 on; use --output oci:DIR or a registry for zstd, or --compression gzip", out)
	}
	created, err := sourceDateEpoch(c.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return pipeline.Options{}, nil, err
	}
	o := pipeline.Options{
		PlanFile: c.planFile, Tags: c.tags,
		Nix:     pipeline.NixOptions{Bin: c.nixBin, Stderr: s.log, System: c.system},
		TempDir: c.tempDir, Created: created, Jobs: c.jobs, UploadJobs: c.uploads,
		Log: s.log, Registry: s.client,
		Progress: progress.New(s.log, progress.TTY(c.terminal())),
		Format:   format, Shard: shard, StreamLayers: !c.layerFiles,
	}
	if o.TempDir == "" {
		o.TempDir = c.Getenv("RUNNER_TEMP")
	}
	if c.report != "" {
		if err := checkOutputFile(c.report); err != nil {
			return o, nil, fmt.Errorf("build: --report: %w", err)
		}
	}
	if err := c.supply.apply(&o); err != nil {
		return o, nil, err
	}
	if c.image != "" {
		if o.Target, err = regclient.ParseReference(c.image); err != nil {
			return o, nil, fmt.Errorf("build: --image: %w", err)
		}
	}
	if o.Target != nil && (out.Kind == publish.KindRegistry) {
		o.Previous = append(o.Previous, o.Target)
	}
	for _, cf := range c.cacheFrom {
		r, err := regclient.ParseReference(cf)
		if err != nil {
			return o, nil, fmt.Errorf("build: --cache-from: %w", err)
		}
		o.Previous = append(o.Previous, r)
	}
	pub, err := c.publisher(s, out, o.Target)
	return o, pub, err
}

// publisher chooses the destination; nil with --push=false.
func (c *buildCmd) publisher(s *session, out publish.Output, target name.Reference) (publish.Publisher, error) {
	if !c.push {
		return nil, nil
	}
	switch out.Kind {
	case publish.KindOCI:
		return ociLayout(out, c.image), nil
	case publish.KindDockerArchive:
		if target == nil {
			target, _ = name.ParseReference("nix-layer-action:latest")
		}
		return &publish.DockerArchive{File: out.Path, Ref: target}, nil
	}
	if c.byDigest {
		return publish.NewRegistryByDigest(s.client, target), nil
	}
	p, err := publish.NewRegistry(s.client, target, c.tags)
	if err != nil {
		var te *publish.TagError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("build: --tag %q: %w", te.Tag, te.Err)
		}
		return nil, err
	}
	return p, nil
}

// checkShard reads --shard. A part of a split build is pushed by digest
// (it is not an image to run, so no tag may point at it): --shard implies
// --push-by-digest and refuses what contradicts it.
func (c *buildCmd) checkShard(out publish.Output) (layering.Shard, error) {
	s, err := layering.ParseShard(c.shard)
	if err != nil {
		return s, fmt.Errorf("build: --shard: %w", err)
	}
	if !s.Split() {
		return s, nil
	}
	switch {
	case out.Kind != publish.KindRegistry:
		return s, fmt.Errorf("build: --shard %s pushes its part to a registry by digest, not to --output %s", s, out)
	case !c.push:
		return s, fmt.Errorf("build: --shard %s pushes its part by digest; --push=false contradicts it", s)
	case len(c.tags) > 0:
		return s, fmt.Errorf("build: --shard %s pushes a part of the image by digest, so --tag cannot be used with it (the final build, without --shard, tags)", s)
	}
	c.byDigest = true
	return s, nil
}

// checkByDigest refuses --push-by-digest where it means nothing.
func (c *buildCmd) checkByDigest(out publish.Output) error {
	switch {
	case !c.byDigest:
		return nil
	case out.Kind != publish.KindRegistry:
		return fmt.Errorf("build: --push-by-digest pushes to a registry, not to --output %s", out)
	case !c.push:
		return errors.New("build: --push-by-digest and --push=false contradict each other")
	case len(c.tags) > 0:
		return errors.New("build: --push-by-digest moves no tag, so --tag cannot be used with it (tag the digest afterwards with merge or tag)")
	}
	return nil
}

// maxEpoch is 9999-12-31T23:59:59Z: RFC 3339 (the image config's time
// format) has four-digit years.
const maxEpoch = 253402300799

// terminal reports whether stderr is a terminal (a live progress line)
// rather than a log (a line every few seconds).
func (c *buildCmd) terminal() bool {
	f, ok := c.Stderr.(*os.File)
	if !ok || c.Getenv("GITHUB_ACTIONS") == "true" || c.Getenv("CI") == "true" {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// sourceDateEpoch parses SOURCE_DATE_EPOCH; empty means the fixed default.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxEpoch {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds from 0 to %d (the end of year 9999, the last an image config can hold)", v, maxEpoch)
	}
	return time.Unix(n, 0).UTC(), nil
}

// writeFileAtomic writes through a temp file and renames it into place, so a
// failed run never leaves a half-written file. Reports, summaries and SBOMs
// are read by later steps that may run as another user, so the file is
// mode 0644 (a temp file is 0600) and, when we run as root, owned like its
// directory: in the action the container's root user writes into the
// workspace, which the runner's user owns and reads on the host.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := chownToDir(f, filepath.Dir(path)); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
