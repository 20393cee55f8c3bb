package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/action"
	"github.com/org/nix-layer-action/internal/multiarch"
	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/progress"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/secrets"
)

// actionCmd is the action command: no flags of its own, only --help.
func actionCmd(ctx context.Context, e Env, args []string) error {
	fs := newFlagSet("action", e.Stdout,
		"usage: nix-layer-action action   (what the binary runs with no command when GITHUB_ACTIONS=true)",
		"",
		"Runs as the GitHub Action: reads its inputs from INPUT_<NAME> variables, as the",
		"runner sets them from the step's with: (names upper-cased, e.g. INPUT_CACHE-FROM),",
		"builds and publishes like 'build', writes the outputs, the job summary and, on",
		"pull requests, one sticky comment. Inputs: "+strings.Join(action.InputNames, ", ")+".",
		"Outputs: "+strings.Join(action.OutputNames, ", ")+".",
		"Every input is described in docs/action.md.")
	if help, err := parseFlags(fs, args, e.Stderr); help || err != nil {
		return err
	}
	return runAction(ctx, e)
}

// runAction runs the GitHub Action: inputs from INPUT_* variables, outputs,
// job summary and PR comment through internal/action, the build through the
// same pipeline as the CLI. One secrets set serves both: the action masks
// the token and nix-conf tokens in it, the registry client adds every
// credential it uses.
func runAction(ctx context.Context, e Env) error {
	set := secrets.New()
	fmt.Fprintf(e.Stdout, "nix-layer-action %s\n", Version())
	err := action.Run(ctx, action.Options{
		Getenv:  e.Getenv,
		Stdout:  e.Stdout,
		Secrets: set,
		Build: func(ctx context.Context, req action.Request) (*report.Report, error) {
			return buildForAction(ctx, e, req)
		},
		Merge:     mergeForAction,
		UserAgent: userAgent(),
	})
	if err != nil {
		// action.Run has already reported the failure as an annotation;
		// the exit status still tells a published image apart.
		var pe *publish.PublishedError
		if errors.As(err, &pe) {
			return &publish.PublishedError{Ref: pe.Ref, Err: errSilent}
		}
		return errSilent
	}
	return nil
}

// actionClient is the registry client of one action request.
func actionClient(req action.Request) (*regclient.Client, error) {
	opts := []regclient.Option{
		regclient.WithKeychain(regclient.Keychain(req.GitHubToken)),
		regclient.WithSecrets(req.Secrets),
		regclient.WithUserAgent(userAgent()),
	}
	if req.Debug {
		opts = append(opts, regclient.WithDebug(req.Log))
	}
	return regclient.New(opts...)
}

// buildForAction runs the pipeline for one action request.
func buildForAction(ctx context.Context, e Env, req action.Request) (*report.Report, error) {
	client, err := actionClient(req)
	if err != nil {
		return nil, err
	}
	o, err := actionOptions(e, req, client)
	if err != nil {
		return nil, err
	}
	if req.SBOMPath != "" {
		if err := checkOutputFile(req.SBOMPath); err != nil {
			return nil, fmt.Errorf("input sbom-path: %w", err)
		}
	}
	logf := func(f string, a ...any) { fmt.Fprintf(req.Log, f+"\n", a...) }
	if o.Substituter, err = substituterFor(ctx, o.Nix, req.Secrets, logf); err != nil {
		return nil, err
	}
	var pub publish.Publisher
	switch {
	case req.Push && req.PushByDigest:
		pub = publish.NewRegistryByDigest(client, o.Target)
	case req.Push:
		if pub, err = publish.NewRegistry(client, o.Target, req.Tags); err != nil {
			return nil, fmt.Errorf("input tags: %w", err)
		}
	}
	res, err := pipeline.BuildResult(ctx, o, pub)
	if err != nil {
		return nil, err
	}
	if req.SBOMPath != "" {
		if err := writeSBOM(req.SBOMPath, res); err != nil {
			err = fmt.Errorf("writing SBOM %s: %w", req.SBOMPath, err)
			return res.Report, afterPublish(pub, res.Report.Image, res.Report.Digest, err)
		}
	}
	return res.Report, nil
}

func actionOptions(e Env, req action.Request, client *regclient.Client) (pipeline.Options, error) {
	created, err := sourceDateEpoch(e.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return pipeline.Options{}, err
	}
	if created.IsZero() {
		created = req.Created // the commit's time
	}
	target, err := regclient.ParseReference(req.Image)
	if err != nil {
		return pipeline.Options{}, fmt.Errorf("input image: %w", err)
	}
	prev := []name.Reference{target}
	for _, c := range req.CacheFrom {
		r, err := regclient.ParseReference(c)
		if err != nil {
			return pipeline.Options{}, fmt.Errorf("input cache-from: %w", err)
		}
		prev = append(prev, r)
	}
	nixConf := e.Getenv("NIX_CONFIG")
	if strings.TrimSpace(req.NixConf) != "" {
		nixConf = strings.TrimRight(nixConf, "\n") + "\n" + req.NixConf
	}
	var nixEnv []string
	if nixConf != "" {
		nixEnv = []string{"NIX_CONFIG=" + nixConf}
	}
	return pipeline.Options{
		PlanFile:     req.PlanFile,
		Target:       target,
		Previous:     prev,
		Tags:         req.Tags,
		Nix:          pipeline.NixOptions{Env: nixEnv, Stderr: req.Log, System: req.System},
		TempDir:      req.TempDir,
		Created:      created,
		Log:          req.Log, // inside the phase's log group
		Registry:     client,
		Labels:       req.Labels,
		Annotations:  req.Annotations,
		Metadata:     req.Metadata,
		Phase:        func(p pipeline.Phase) { req.Phase(string(p)) },
		Progress:     progress.New(req.Log, progress.TTY(false)),
		Format:       req.Format,
		Shard:        req.Shard,
		StreamLayers: !req.LayerFiles,
	}, nil
}

// mergeForAction merges the request's digests into an index at its image's
// tag (and tags); a single digest just moves the tags onto it.
func mergeForAction(ctx context.Context, req action.MergeRequest) (*action.MergeResult, error) {
	tag, err := name.NewTag(req.Image)
	if err != nil || strings.Contains(req.Image, "@") {
		return nil, fmt.Errorf("input image %q: merge needs a tag like ghcr.io/acme/app:latest", req.Image)
	}
	hashes, err := digestArgs("input merge", tag.Context(), req.Digests)
	if err != nil {
		return nil, err
	}
	client, err := actionClient(req.Request)
	if err != nil {
		return nil, err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(req.Log, f+"\n", a...) }
	mopts := []multiarch.Option{multiarch.WithRemoteOptions(client.Remote(ctx)...), multiarch.WithLogger(logf)}
	tags := append([]string{tag.TagStr()}, req.Tags...)
	if len(hashes) == 1 {
		return tagForAction(ctx, tag, tags, hashes[0], mopts)
	}
	res, err := multiarch.Merge(ctx, tag.Context(), hashes, append(mopts,
		multiarch.WithTags(tags...), multiarch.WithAnnotations(req.Annotations))...)
	if err != nil {
		return nil, client.Err(err)
	}
	out := &action.MergeResult{Digest: res.Digest.String(), Changed: len(res.Pushed) > 0}
	for _, c := range res.Children {
		out.Children = append(out.Children, action.Merged{Platform: c.Platform.String(), Digest: c.Digest.String()})
	}
	return out, nil
}

// tagForAction points every tag at digest.
func tagForAction(ctx context.Context, tag name.Tag, tags []string, digest v1.Hash, mopts []multiarch.Option) (*action.MergeResult, error) {
	out := &action.MergeResult{Digest: digest.String()}
	for _, t := range tags {
		moved, err := multiarch.Tag(ctx, tag.Context().Tag(t), digest, mopts...)
		if err != nil {
			return nil, err
		}
		out.Changed = out.Changed || moved
	}
	return out, nil
}
