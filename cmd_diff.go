package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/report"
)

type diffCmd struct {
	env
	planFile string
	against  string
	markdown string
	nixBin   string
}

func (c *diffCmd) Name() string { return "diff" }
func (c *diffCmd) Synopsis() string {
	return "compare the plan's layers with a published image (packages added, removed, changed)"
}

func (c *diffCmd) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.planFile, "plan", "", "layer plan file (required)")
	fs.StringVar(&c.against, "against", "", "published image to compare with, e.g. ghcr.io/acme/app:latest (required)")
	fs.StringVar(&c.markdown, "markdown", "", "also write the diff as PR-comment Markdown to this file")
	fs.StringVar(&c.nixBin, "nix", "nix", "nix command to run")
	fs.Usage = func() {
		fmt.Fprintln(c.Stderr, "usage: nix-layer-action diff --plan FILE --against REF [--markdown FILE]")
		fmt.Fprintln(c.Stderr)
		fmt.Fprintln(c.Stderr, "Resolves the plan and compares each layer's store paths with the per-layer path")
		fmt.Fprintln(c.Stderr, "lists recorded in the published image's config: packages added, removed or")
		fmt.Fprintln(c.Stderr, "changed version, NAR size deltas, and which layers would be rebuilt.")
		fmt.Fprintln(c.Stderr, "Reads only the image's manifest and config; never pulls layer blobs.")
		fmt.Fprintln(c.Stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errSilent
	}
	if c.planFile == "" || c.against == "" {
		return errors.New("diff: --plan and --against are required")
	}
	token := c.Getenv("GITHUB_TOKEN")
	var secrets []string
	if token != "" {
		secrets = []string{token}
	}
	res, err := pipeline.Diff(ctx, pipeline.DiffOptions{
		PlanFile: c.planFile,
		Against:  c.against,
		Nix:      pipeline.NixOptions{Bin: c.nixBin, Stderr: c.Stderr},
		Keychain: publish.Keychain(token),
		Secrets:  secrets,
	})
	if err != nil {
		return err
	}
	opts := report.PRCommentOptions{Image: c.against, PreviousDigest: res.PreviousDigest}
	if c.markdown != "" {
		if err := writeFileAtomic(c.markdown, func(w io.Writer) error { return report.PRComment(w, res.Diff, opts) }); err != nil {
			return fmt.Errorf("writing %s: %w", c.markdown, err)
		}
	}
	return report.PRComment(c.Stdout, res.Diff, opts)
}
