package main

import (
	"context"
	"strings"

	"github.com/org/nix-layer-action/internal/action"
	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/report"
)

// runAction runs the GitHub Action: inputs from INPUT_* variables, outputs,
// job summary and PR comment through internal/action, the build through the
// same pipeline as the CLI.
func runAction(ctx context.Context, e env) error {
	err := action.Run(ctx, action.Options{
		Getenv: e.Getenv,
		Stdout: e.Stdout,
		Build: func(ctx context.Context, req action.Request) (*report.Report, error) {
			o := actionOptions(e, req)
			if req.Debug {
				enableDebug(e.Stdout, o.Secrets)
			}
			return pipeline.Build(ctx, o)
		},
	})
	if err != nil {
		// action.Run has already reported the failure as an annotation.
		return errSilent
	}
	return nil
}

func actionOptions(e env, req action.Request) pipeline.Options {
	var secrets []string
	if req.GitHubToken != "" {
		secrets = append(secrets, req.GitHubToken)
	}
	created, _ := sourceDateEpoch(e.Getenv("SOURCE_DATE_EPOCH"))
	nixConf := e.Getenv("NIX_CONFIG")
	if strings.TrimSpace(req.NixConf) != "" {
		nixConf = strings.TrimRight(nixConf, "\n") + "\n" + req.NixConf
	}
	var nixEnv []string
	if nixConf != "" {
		nixEnv = []string{"NIX_CONFIG=" + nixConf}
	}
	return pipeline.Options{
		PlanFile:    req.PlanFile,
		Image:       req.Image,
		Output:      publish.Output{Kind: "registry"},
		Tags:        req.Tags,
		CacheFrom:   req.CacheFrom,
		Push:        req.Push,
		Nix:         pipeline.NixOptions{Env: nixEnv, Stderr: e.Stderr},
		TempDir:     req.TempDir,
		Created:     created,
		Log:         e.Stdout, // inside the phase's log group
		Phase:       req.Phase,
		Keychain:    publish.Keychain(req.GitHubToken),
		Secrets:     secrets,
		Labels:      req.Labels,
		Annotations: req.Annotations,
	}
}
