package nixfix

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/testutil"
)

// NixConfig is the NIX_CONFIG every test run of nix uses: flakes enabled, no
// substituters (no network), no sandbox (the builders use the host's
// /bin/sh and busybox), no build users (root builds itself: Debian's nix-bin
// creates no nixbld group).
const NixConfig = "experimental-features = nix-command flakes\nsubstituters =\nsandbox = false\nbuild-users-group ="

// Env returns the environment entries to add for running nix in tests.
func Env() []string {
	return []string{"NIX_CONFIG=" + NixConfig}
}

// Runner returns a closure.Nix that runs the real nix in dir with Env().
func Runner(t testing.TB, dir string) *closure.Nix {
	t.Helper()
	bin := testutil.RequireTool(t, "nix")
	return &closure.Nix{Bin: bin, Dir: dir, Env: Env()}
}

// Fixture is a written fixture flake.
type Fixture struct {
	Dir  string  // absolute flake directory (outside any git repository)
	Opts Options // with defaults applied
}

// Flake writes the fixture flake.nix into dir (use t.TempDir(): a flake
// inside a git checkout would only see tracked files). It requires a static
// busybox on the host (skips, or fails under CI=true, when missing).
func Flake(t testing.TB, dir string, opts Options) *Fixture {
	t.Helper()
	if opts.Busybox == "" {
		opts.Busybox = testutil.RequireTool(t, "busybox")
	}
	opts = opts.withDefaults()
	if err := WriteFlake(dir, opts); err != nil {
		t.Fatalf("nixfix: writing flake: %v", err)
	}
	return &Fixture{Dir: dir, Opts: opts}
}

// Ref returns the installable for attr ("<dir>#<attr>").
func (f *Fixture) Ref(attr string) string { return f.Dir + "#" + attr }

// OutPaths evaluates (without building) the output path of every package
// attribute of the flake, independently of closure.Nix.
func (f *Fixture) OutPaths(t testing.TB) map[string]string {
	t.Helper()
	out := f.nix(t, "eval", "--json", f.Dir+"#packages."+System,
		"--apply", "ps: builtins.mapAttrs (n: p: p.outPath) ps")
	var m map[string]string
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("nixfix: parsing nix eval output: %v\n%s", err, out)
	}
	return m
}

// Build realises attrs (default: every attr of Options.Attrs) with real nix
// and returns attr → output path.
func (f *Fixture) Build(t testing.TB, attrs ...string) map[string]string {
	t.Helper()
	if len(attrs) == 0 {
		attrs = f.Opts.Attrs()
	}
	args := []string{"build", "--no-link"}
	for _, a := range attrs {
		args = append(args, f.Ref(a))
	}
	f.nix(t, args...)
	all := f.OutPaths(t)
	res := make(map[string]string, len(attrs))
	for _, a := range attrs {
		p, ok := all[a]
		if !ok {
			t.Fatalf("nixfix: flake has no attribute %q", a)
		}
		res[a] = p
	}
	StorePathsExist(t, values(res)...)
	return res
}

func (f *Fixture) nix(t testing.TB, args ...string) []byte {
	t.Helper()
	bin := testutil.RequireTool(t, "nix")
	full := append([]string{args[0], "--extra-experimental-features", "nix-command flakes"}, args[1:]...)
	cmd := exec.CommandContext(context.Background(), bin, full...)
	cmd.Dir = f.Dir
	cmd.Env = append(os.Environ(), Env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nixfix: nix %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// StorePathsExist fails the test unless every path exists (Lstat).
func StorePathsExist(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("nixfix: store path missing: %v", err)
		}
	}
}

// NameOf returns the name part of a store path ("/nix/store/<hash>-torch-2.9.0"
// → "torch-2.9.0").
func NameOf(storePath string) string {
	base := storePath[strings.LastIndexByte(storePath, '/')+1:]
	if i := strings.IndexByte(base, '-'); i >= 0 {
		return base[i+1:]
	}
	return base
}

// FindByName returns the paths among paths whose name (see NameOf) starts
// with prefix, sorted.
func FindByName(paths []string, prefix string) []string {
	var out []string
	for _, p := range paths {
		if strings.HasPrefix(NameOf(p), prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
