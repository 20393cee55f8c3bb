package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
)

type diffCmd struct {
	Env
	planFlags
	against  string
	markdown string
	registry registryFlags
}

func (c *diffCmd) Name() string { return "diff" }
func (c *diffCmd) Synopsis() string {
	return "compare the plan's layers with a published image (packages added, removed, changed)"
}

func (c *diffCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("diff", c.Stdout,
		"usage: nix-layer-action diff --plan FILE --against REF [--markdown FILE]",
		"",
		"Resolves the plan and compares each layer's store paths with the per-layer path",
		"lists recorded in the published image's config: packages added, removed or",
		"changed version, NAR size deltas, and which layers would be rebuilt.",
		"Reads only the image's manifest and config; never pulls layer blobs.")
	c.planFlags.add(fs.FlagSet, "Nix system whose packages to compare, e.g. aarch64-linux; a multi-platform --against is read as its child for that platform",
		compressionUsage+"; decides the keys, so which layers would be rebuilt")
	fs.StringVar(&c.against, "against", "", "published image to compare with, e.g. ghcr.io/acme/app:latest (required)")
	fs.StringVar(&c.markdown, "markdown", "", "also write the diff as PR-comment Markdown to this file")
	c.registry.add(fs.FlagSet)
	if help, err := parseFlags(fs, args, c.Stderr); help || err != nil {
		return err
	}
	if c.planFile == "" || c.against == "" {
		return errors.New("diff: --plan and --against are required")
	}
	against, err := regclient.ParseReference(c.against)
	if err != nil {
		return fmt.Errorf("diff: --against: %w", err)
	}
	req, err := c.planFlags.request("diff")
	if err != nil {
		return err
	}
	s, err := c.newSession(c.registry)
	if err != nil {
		return err
	}
	req.Log, req.Secrets = s.log, s.secrets
	nixo := nixOptions(req)
	sub, err := substituterFor(ctx, nixo, s.secrets, s.logf)
	if err != nil {
		return s.close(err)
	}
	res, err := pipeline.Diff(ctx, pipeline.DiffOptions{
		PlanFile:    req.PlanFile,
		Against:     against,
		Nix:         nixo,
		Registry:    s.client,
		Substituter: sub,
		Format:      req.Format,
	})
	if err != nil {
		return s.close(err)
	}
	var buf bytes.Buffer
	opts := report.PRCommentOptions{Image: c.against, PreviousDigest: res.PreviousDigest}
	if err := report.PRComment(&buf, res.Diff, opts); err != nil {
		return s.close(err)
	}
	md := s.secrets.String(buf.String())
	if c.markdown != "" {
		if err := writeFileAtomic(c.markdown, func(w io.Writer) error { _, err := io.WriteString(w, md); return err }); err != nil {
			return s.close(fmt.Errorf("writing %s: %w", c.markdown, err))
		}
	}
	if res.PreviousDigest == "" {
		// Nothing published there: one line, not every layer as new.
		md = s.secrets.String(report.NoPreviousLine(c.against, res.Diff) + "\n")
	}
	_, err = io.WriteString(c.Stdout, md)
	return s.close(err)
}
