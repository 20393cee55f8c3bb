package main

import (
	"context"
	"errors"
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
	fs := newFlagSet("diff", c.Stderr,
		"usage: nix-layer-action diff --plan FILE --against REF [--markdown FILE]",
		"",
		"Resolves the plan and compares each layer's store paths with the per-layer path",
		"lists recorded in the published image's config: packages added, removed or",
		"changed version, NAR size deltas, and which layers would be rebuilt.",
		"Reads only the image's manifest and config; never pulls layer blobs.")
	fs.StringVar(&c.planFile, "plan", "", "layer plan file (required)")
	fs.StringVar(&c.against, "against", "", "published image to compare with, e.g. ghcr.io/acme/app:latest (required)")
	fs.StringVar(&c.markdown, "markdown", "", "also write the diff as PR-comment Markdown to this file")
	fs.StringVar(&c.nixBin, "nix", "nix", "nix command to run")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if c.planFile == "" || c.against == "" {
		return errors.New("diff: --plan and --against are required")
	}
	token, secrets := c.token()
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
