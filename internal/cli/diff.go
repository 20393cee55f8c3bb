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
	planFile    string
	against     string
	markdown    string
	nixBin      string
	system      string
	compression string
	registry    registryFlags
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
	fs.StringVar(&c.planFile, "plan", "", "layer plan: a file (YAML or JSON) or a flake output (.#imagePlan) (required)")
	fs.StringVar(&c.against, "against", "", "published image to compare with, e.g. ghcr.io/acme/app:latest (required)")
	fs.StringVar(&c.markdown, "markdown", "", "also write the diff as PR-comment Markdown to this file")
	fs.StringVar(&c.nixBin, "nix", "nix", "nix command to run")
	fs.StringVar(&c.system, "system", "", "Nix system whose packages to compare, e.g. aarch64-linux; a multi-platform --against is read as its child for that platform")
	fs.StringVar(&c.compression, "compression", "gzip", compressionUsage+"; decides the keys, so which layers would be rebuilt")
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
	format, err := layerFormat("diff", c.compression)
	if err != nil {
		return err
	}
	s, err := c.newSession(c.registry)
	if err != nil {
		return err
	}
	nixo := pipeline.NixOptions{Bin: c.nixBin, Stderr: s.log, System: c.system}
	sub, err := substituterFor(ctx, nixo, s.secrets, s.logf)
	if err != nil {
		return s.close(err)
	}
	res, err := pipeline.Diff(ctx, pipeline.DiffOptions{
		PlanFile:    c.planFile,
		Against:     against,
		Nix:         nixo,
		Registry:    s.client,
		Substituter: sub,
		Format:      format,
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
