package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/org/nix-layer-action/internal/resolve"
	"github.com/org/nix-layer-action/internal/secrets"
	"github.com/org/nix-layer-action/internal/substituter"
)

// substituter is the run's binary-cache client, configured from the
// effective configuration of the Nix that nixo runs (substituters, trusted
// keys, require-sigs, netrc-file, timeouts; see
// resolve.SubstituterConfig), never from nix.conf files read here. Nix's
// access tokens join the run's secrets. Without a nix command no cache is
// read (nil). logf receives its notes (skipped cache kinds, …).
func substituterFor(ctx context.Context, nixo resolve.NixOptions, set *secrets.Set, logf func(string, ...any)) (*substituter.Client, error) {
	cfg, err := resolve.SubstituterConfig(ctx, nixo)
	if errors.Is(err, resolve.ErrNoNix) {
		logf("binary caches: none read (%v, so there is no Nix configuration to follow)", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Nix's configuration for its binary caches: %w", err)
	}
	for _, tok := range cfg.AccessTokens {
		set.Add(tok)
	}
	opts := []substituter.Option{substituter.WithLogger(logf), substituter.WithSecrets(set)}
	if xz, err := exec.LookPath("xz"); err == nil {
		opts = append(opts, substituter.WithXZCommand(xz)) // 2-3× faster than Go's xz on big NARs
	}
	return substituter.New(cfg, opts...)
}
