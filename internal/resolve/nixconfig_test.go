package resolve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

const (
	testCacheKey = "test-cache-1:3GGrU6pxuhGzmwlV9fb4RzBqO1q4VwiE7X4bU5lbWVY="
	staleKey     = "other-1:R4H6l6hFVVmA0/lJL1B96ZOynJjld678kcZXlPFIXlc="
)

// TestSubstituterConfigFollowsNix asks the real Nix: its configuration
// comes from NIX_CONF_DIR (and NIX_CONFIG), not from a stale
// ~/.config/nix/nix.conf that NIX_USER_CONF_FILES makes Nix skip.
func TestSubstituterConfigFollowsNix(t *testing.T) {
	testutil.RequireTool(t, "nix")
	confDir, home := t.TempDir(), t.TempDir()
	write := func(file, text string) {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(confDir, "nix.conf"), "substituters = http://127.0.0.1:1/good\ntrusted-public-keys = "+testCacheKey+
		"\nconnect-timeout = 3\naccess-tokens = github.com=ghp_CANARY\n")
	write(filepath.Join(home, ".config", "nix", "nix.conf"), "substituters = http://127.0.0.1:1/stale\ntrusted-public-keys = "+staleKey+"\n")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CONFIG_DIRS", filepath.Join(home, "none"))
	t.Setenv("NIX_CONF_DIR", confDir)
	t.Setenv("NIX_USER_CONF_FILES", filepath.Join(confDir, "no-user.conf"))
	t.Setenv("NIX_CONFIG", "")
	ctx := context.Background()

	cfg, err := SubstituterConfig(ctx, NixOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://127.0.0.1:1/good"}; !reflect.DeepEqual(cfg.Substituters, want) {
		t.Errorf("substituters %q, want %q (NIX_CONF_DIR's)", cfg.Substituters, want)
	}
	if want := []string{testCacheKey}; !reflect.DeepEqual(cfg.TrustedPublicKeys, want) {
		t.Errorf("keys %q, want %q (NIX_CONF_DIR's)", cfg.TrustedPublicKeys, want)
	}
	if !cfg.RequireSigs || cfg.ConnectTimeout.Seconds() != 3 || cfg.NetrcFile != filepath.Join(confDir, "netrc") {
		t.Errorf("require-sigs %v, connect-timeout %s, netrc-file %q; want true, 3s, %s/netrc", cfg.RequireSigs, cfg.ConnectTimeout, cfg.NetrcFile, confDir)
	}
	if !reflect.DeepEqual(cfg.AccessTokens, []string{"ghp_CANARY"}) {
		t.Errorf("access tokens %q, want the one Nix has", cfg.AccessTokens)
	}

	// NIX_CONFIG (as the action passes its nix-conf input) empties them.
	cfg, err = SubstituterConfig(ctx, NixOptions{Env: []string{"NIX_CONFIG=substituters ="}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Substituters) != 0 {
		t.Errorf("NIX_CONFIG 'substituters =': substituters %q, want none", cfg.Substituters)
	}

	// Without NIX_USER_CONF_FILES, Nix reads the user file, and so do we.
	cfg, err = SubstituterConfig(ctx, NixOptions{Env: []string{"NIX_USER_CONF_FILES=" + filepath.Join(home, ".config", "nix", "nix.conf")}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{staleKey}; !reflect.DeepEqual(cfg.TrustedPublicKeys, want) {
		t.Errorf("with the user file: keys %q, want %q", cfg.TrustedPublicKeys, want)
	}
}

// TestSubstituterConfigWithoutNix: no nix command, no configuration to
// follow: ErrNoNix, so the caller reads no cache.
func TestSubstituterConfigWithoutNix(t *testing.T) {
	_, err := SubstituterConfig(context.Background(), NixOptions{Bin: filepath.Join(t.TempDir(), "no-such-nix")})
	if !errors.Is(err, ErrNoNix) {
		t.Errorf("error %v, want ErrNoNix", err)
	}
}
