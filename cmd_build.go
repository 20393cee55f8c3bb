package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/publish"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type buildCmd struct {
	env
	fs        *flag.FlagSet
	planFile  string
	image     string
	output    string
	report    string
	cacheFrom listFlag
	tags      listFlag
	push      bool
	tempDir   string
	system    string
	jobs      int
	nixBin    string
	debug     bool
}

func (c *buildCmd) Name() string { return "build" }
func (c *buildCmd) Synopsis() string {
	return "build the plan's image and push only the layers that changed"
}

func (c *buildCmd) flags() *flag.FlagSet {
	fs := newFlagSet("build", c.Stderr,
		"usage: nix-layer-action build --plan FILE --image REF [flags]",
		"",
		"Resolves the plan's Nix closures, assigns every store path to exactly one layer,",
		"reuses layers whose key an existing image (--image, --cache-from) already has,",
		"builds the rest once, and publishes the image. Registry credentials come from the",
		"Docker config (~/.docker/config.json) and GITHUB_TOKEN for ghcr.io.")
	fs.StringVar(&c.planFile, "plan", "", "layer plan file, YAML or JSON (required)")
	fs.StringVar(&c.image, "image", "", "image reference to push to, e.g. ghcr.io/acme/app:latest (required for registry output)")
	fs.StringVar(&c.output, "output", "registry", "where the image goes: registry | oci:DIR | docker-archive:FILE")
	fs.Var(&c.cacheFrom, "cache-from", "further image whose layers may be reused (repeatable)")
	fs.StringVar(&c.report, "report", "", "write the JSON report to this file")
	fs.Var(&c.tags, "tag", "extra tag to point at the pushed image (repeatable)")
	fs.BoolVar(&c.push, "push", true, "publish the image; --push=false builds and reports only")
	fs.StringVar(&c.tempDir, "temp-dir", "", "parent directory for temporary layer files (default $RUNNER_TEMP or the system temp dir)")
	fs.StringVar(&c.system, "system", "", "Nix system of the image, e.g. x86_64-linux (default: this machine)")
	fs.IntVar(&c.jobs, "jobs", 0, "layers built at once (default: number of CPUs)")
	fs.StringVar(&c.nixBin, "nix", "nix", "nix command to run")
	fs.BoolVar(&c.debug, "debug", false, "log every registry request and response (credentials redacted)")
	return fs
}

func (c *buildCmd) Run(ctx context.Context, args []string) error {
	fs := c.flags()
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if c.planFile == "" {
		return errors.New("build: --plan is required")
	}
	out, err := publish.ParseOutput(c.output)
	if err != nil {
		return fmt.Errorf("build: --output: %w", err)
	}
	if out.Kind == "registry" && c.image == "" && c.push {
		return errors.New("build: --image is required for registry output")
	}
	created, err := sourceDateEpoch(c.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	tempDir := c.tempDir
	if tempDir == "" {
		tempDir = c.Getenv("RUNNER_TEMP")
	}
	token, secrets := c.token()
	if c.debug {
		enableDebug(c.Stderr, secrets)
	}
	rep, err := pipeline.Build(ctx, pipeline.Options{
		PlanFile:  c.planFile,
		Image:     c.image,
		Output:    out,
		Tags:      c.tags,
		CacheFrom: c.cacheFrom,
		Push:      c.push,
		Nix:       pipeline.NixOptions{Bin: c.nixBin, Stderr: c.Stderr},
		TempDir:   tempDir,
		Created:   created,
		System:    c.system,
		Jobs:      c.jobs,
		Log:       c.Stderr,
		Keychain:  publish.Keychain(token),
		Secrets:   secrets,
	})
	if err != nil {
		return err
	}
	if c.report != "" {
		if err := writeFileAtomic(c.report, rep.JSON); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	return rep.Table(c.Stdout)
}

// sourceDateEpoch parses SOURCE_DATE_EPOCH; empty means the fixed default.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a non-negative integer", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// writeFileAtomic writes through a temp file and renames it into place, so a
// failed run never leaves a half-written file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(dirOf(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		if i == 0 {
			return "/"
		}
		return p[:i]
	}
	return "."
}
