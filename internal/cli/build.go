package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/org/nix-layer-action/internal/action"
	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/request"
)

type buildCmd struct {
	Env
	planFlags
	image      string
	output     string
	report     string
	cacheFrom  listFlag
	tags       listFlag
	push       bool
	byDigest   bool
	tempDir    string
	jobs       int
	uploads    int
	shard      string
	layerFiles bool
	registry   registryFlags
	supply     supplyFlags
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
	c.planFlags.add(fs.FlagSet, "Nix system to build for, e.g. aarch64-linux: .#app means packages.<system>.app (default: the plan's system:, else Nix's); the image's platform follows it", compressionUsage)
	fs.StringVar(&c.image, "image", "", "image reference to push to, e.g. ghcr.io/acme/app:latest (required for registry output)")
	fs.StringVar(&c.output, "output", "registry", "where the image goes: registry | oci:DIR[:TAG] | docker-archive:FILE")
	fs.Var(&c.cacheFrom, "cache-from", "further image whose layers may be reused (repeatable)")
	fs.StringVar(&c.report, "report", "", "write the JSON report to this file")
	fs.Var(&c.tags, "tag", "extra tag to point at the pushed image (repeatable)")
	fs.BoolVar(&c.push, "push", true, "publish the image; --push=false builds and reports only")
	fs.BoolVar(&c.byDigest, "push-by-digest", false, "push the image by digest only: no tag moves (--image's tag is still read for reuse); see merge and tag")
	fs.StringVar(&c.tempDir, "temp-dir", "", "parent directory for temporary layer files (default $RUNNER_TEMP or the system temp dir)")
	fs.IntVar(&c.jobs, "jobs", 0, "layers built at once (default: number of CPUs)")
	fs.IntVar(&c.uploads, "upload-jobs", 4, "blobs uploaded at once while layers build")
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
	req, err := c.request(s)
	if err != nil {
		return err
	}
	p, err := prepare(ctx, req, cliDoor("build"), s.client)
	if err != nil {
		return err
	}
	res, err := pipeline.BuildResult(ctx, p.opts, p.pub)
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
	if req.SBOMPath != "" {
		if err := writeSBOM(req.SBOMPath, res); err != nil {
			errs = append(errs, fmt.Errorf("writing SBOM: %w", err))
		}
	}
	if err := rep.Table(c.Stdout); err != nil {
		errs = append(errs, err)
	}
	return afterPublish(p.pub, rep.Image, rep.Digest, errors.Join(errs...))
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

// request turns the flags into the build's request; every flag error is
// reported here, naming the flag, before any work.
func (c *buildCmd) request(s *session) (*request.Request, error) {
	out, err := publish.ParseOutput(c.output)
	if err != nil {
		return nil, fmt.Errorf("build: --output %q: %s", c.output, outputProblem(err, c.output))
	}
	if out.Kind == publish.KindRegistry && c.image == "" && c.push {
		return nil, errors.New("build: --image is required for registry output")
	}
	shard, err := c.checkShard(out)
	if err != nil {
		return nil, err
	}
	if err := c.checkByDigest(out); err != nil {
		return nil, err
	}
	if c.system != "" {
		if _, err := image.PlatformFromSystem(c.system); err != nil {
			return nil, fmt.Errorf("build: --system: %w", err)
		}
	}
	req, err := c.planFlags.request("build")
	if err != nil {
		return nil, err
	}
	if format := req.Format; format.IsZstd() && out.Kind == publish.KindDockerArchive {
		// docker load reads zstd layers only from Docker 23 on, and
		// other docker-archive readers may not at all: refuse rather
		// than write an archive that loads on some machines only.
		return nil, fmt.Errorf("build: --compression %s cannot be used with --output %s: docker load reads zstd layers only from Docker 23 on; use --output oci:DIR or a registry for zstd, or --compression gzip", format.Compression, out)
	}
	if req.SourceDateEpoch, err = request.SourceDateEpoch(c.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		return nil, err
	}
	if c.report != "" {
		if err := checkOutputFile(c.report); err != nil {
			return nil, fmt.Errorf("build: --report: %w", err)
		}
	}
	req.Image, req.Output, req.Tags, req.Push, req.CacheFrom = c.image, out, c.tags, c.push, c.cacheFrom
	req.PushByDigest, req.Shard, req.LayerFiles = c.byDigest, shard, c.layerFiles
	req.TempDir, req.Jobs, req.UploadJobs = c.tempDir, c.jobs, c.uploads
	req.SBOMPath, req.Terminal, req.Log, req.Secrets = c.supply.sbom, c.terminal(), s.log, s.secrets
	if req.TempDir == "" {
		req.TempDir = c.Getenv("RUNNER_TEMP")
	}
	if err := c.supply.apply(req); err != nil {
		return nil, err
	}
	return req, nil
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
