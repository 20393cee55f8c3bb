package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/org/nix-layer-action/internal/secrets"
	"github.com/org/nix-layer-action/internal/substituter"
)

// nixConfSources are the nix.conf texts Nix itself would read, in its
// order: the system file, the user file, NIX_CONFIG, then extra (the
// action's nix-conf input), each labelled for error messages.
func (e Env) nixConfSources(extra string) ([]substituter.ConfigSource, error) {
	var out []substituter.ConfigSource
	files := []string{"/etc/nix/nix.conf"}
	if dir := e.Getenv("XDG_CONFIG_HOME"); dir != "" {
		files = append(files, filepath.Join(dir, "nix", "nix.conf"))
	} else if home := e.Getenv("HOME"); home != "" {
		files = append(files, filepath.Join(home, ".config", "nix", "nix.conf"))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		out = append(out, substituter.ConfigSource{Label: f, Text: string(b)})
	}
	if v := e.Getenv("NIX_CONFIG"); v != "" {
		out = append(out, substituter.ConfigSource{Label: "NIX_CONFIG", Text: v})
	}
	if extra != "" {
		out = append(out, substituter.ConfigSource{Label: "nix-conf", Text: extra})
	}
	return out, nil
}

// substituter is the run's binary-cache client, configured as Nix is
// (substituters, trusted keys, require-sigs, netrc-file). Its tokens are
// the run's secrets. log receives its notes (skipped cache kinds, …).
func (e Env) substituter(extra string, set *secrets.Set, logf func(string, ...any)) (*substituter.Client, error) {
	srcs, err := e.nixConfSources(extra)
	if err != nil {
		return nil, err
	}
	for _, s := range srcs {
		set.AddNixConf(s.Text)
	}
	cfg, err := substituter.ParseConfig(srcs...)
	if err != nil {
		return nil, err
	}
	opts := []substituter.Option{substituter.WithLogger(logf), substituter.WithSecrets(set)}
	if xz, err := exec.LookPath("xz"); err == nil {
		opts = append(opts, substituter.WithXZCommand(xz)) // 2-3× faster than Go's xz on big NARs
	}
	return substituter.New(cfg, opts...)
}
