package resolve

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/substituter"
)

// ErrNoNix is returned by SubstituterConfig when the nix command cannot be
// found: there is no configuration to follow, so no cache may be read.
var ErrNoNix = errors.New("the nix command was not found")

// SubstituterConfig asks the Nix that nixo runs (its binary, its
// environment) for its effective configuration and returns the binary
// cache settings in it: the substituter client then trusts exactly the
// keys, and reaches exactly the caches, this Nix would — whatever
// /etc/nix/nix.conf, NIX_CONF_DIR, NIX_USER_CONF_FILES, XDG_CONFIG_HOME or
// NIX_CONFIG (with the action's nix-conf input) said.
func SubstituterConfig(ctx context.Context, nixo NixOptions) (*substituter.Config, error) {
	n := &closure.Nix{Bin: nixo.Bin, Env: nixo.Env}
	raw, err := n.Config(ctx)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoNix
	}
	if err != nil {
		return nil, err
	}
	return substituter.ParseNixConfig(raw)
}
