package binarycache

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

// FreshStore is an empty Nix store for commands run through Run: a
// directory bind-mounted on /nix inside a private mount namespace
// (unshare -m), so the commands see an empty /nix/store and their own
// /nix/var/nix database while the host store is untouched. Debian's nix
// lives in /usr/bin and works with an empty /nix. The store persists
// across Run calls of one FreshStore and can be inspected under Root.
type FreshStore struct {
	Root    string // host directory that is /nix inside Run
	unshare string
}

// NewFreshStore prepares an empty store. It needs root, unshare and a
// /nix directory on the host to mount over.
func NewFreshStore(t testing.TB) *FreshStore {
	t.Helper()
	unshare := testutil.RequireTool(t, "unshare")
	testutil.RequireTool(t, "mount")
	if os.Geteuid() != 0 {
		if testutil.InCI() {
			t.Fatal("binarycache: a fresh Nix store needs root under CI=true")
		}
		t.Skip("binarycache: a fresh Nix store needs root (mount namespaces)")
	}
	if fi, err := os.Stat("/nix"); err != nil || !fi.IsDir() {
		t.Fatalf("binarycache: no /nix directory to mount over: %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"store", "var/nix/db", "var/nix/gcroots", "var/nix/profiles", "var/nix/temproots", "var/log/nix"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &FreshStore{Root: root, unshare: unshare}
}

// freshScript mounts $0 on /nix in the new mount namespace (unshare makes
// its propagation private, so nothing leaks to the host) and execs the
// command.
const freshScript = `set -e; mount --bind "$0" /nix; exec "$@"`

// Run runs argv (e.g. "nix", "path-info", p) against the fresh store with
// the harness Nix configuration plus extraConfig lines (for substituters
// and trusted-public-keys). A program name without a slash is looked up
// on the host PATH first.
func (s *FreshStore) Run(t testing.TB, extraConfig []string, argv ...string) Result {
	t.Helper()
	return s.RunEnv(t, nixEnv(t, extraConfig...), argv...)
}

// RunEnv is Run with exactly the environment env (e.g. a Nix configured
// through NIX_CONF_DIR rather than NIX_CONFIG).
func (s *FreshStore) RunEnv(t testing.TB, env []string, argv ...string) Result {
	t.Helper()
	if len(argv) > 0 && filepath.Base(argv[0]) == argv[0] {
		argv = append([]string{testutil.RequireTool(t, argv[0])}, argv[1:]...)
	}
	full := append([]string{s.unshare, "-m", "--propagation", "private", "--", "/bin/sh", "-c", freshScript, s.Root}, argv...)
	return run("", env, full...)
}

// StorePaths lists the entries of the fresh store's /nix/store.
func (s *FreshStore) StorePaths(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".lock" && e.Name()[0] != '.' { // .links: Nix's hard-link pool
			out = append(out, "/nix/store/"+e.Name())
		}
	}
	return out
}
