// Package binarycache is a test harness with real parts for the
// "plan from a binary cache" feature: a fixture closure built by real Nix,
// binary caches written by `nix copy --to file://…` (signed with a key from
// `nix key generate-secret`), served by a real nginx on loopback with an
// access log that splits narinfo from NAR traffic, helpers that corrupt a
// cache, and a runner for commands against a fresh, empty Nix store (a
// private mount namespace with its own /nix).
//
// Every helper takes a testing.TB and fails the test on error; tools are
// found with testutil.RequireTool (skip on a laptop, fail under CI=true).
package binarycache

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

// NixConfig is the NIX_CONFIG the harness runs Nix with: offline (no
// substituters), no sandbox, and no build users, because Nix 2.8 as root
// defaults build-users-group to nixbld and Debian's nix-bin does not
// create that group.
const NixConfig = "experimental-features = nix-command flakes\nsubstituters =\nsandbox = false\nbuild-users-group ="

// commandTimeout bounds every command the harness runs.
const commandTimeout = 5 * time.Minute

// Result is the outcome of a command.
type Result struct {
	Stdout, Stderr string
	Err            error // nil when the command exited 0
}

// nixEnv returns the environment for a Nix command: the harness
// NIX_CONFIG plus extra lines, and a private HOME and XDG_CACHE_HOME (so
// Nix's narinfo disk cache never carries answers between commands).
func nixEnv(t testing.TB, extraConfig ...string) []string {
	home := t.TempDir()
	cfg := NixConfig
	for _, l := range extraConfig {
		cfg += "\n" + l
	}
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"NIX_CONFIG=" + cfg,
	}
}

// run runs argv with env (and dir when set) and returns its output.
func run(dir string, env []string, argv ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// mustRun runs argv and fails the test unless it exits 0.
func mustRun(t testing.TB, dir string, env []string, argv ...string) string {
	t.Helper()
	r := run(dir, env, argv...)
	if r.Err != nil {
		t.Fatalf("binarycache: %s: %v\n%s", strings.Join(argv, " "), r.Err, r.Stderr)
	}
	return r.Stdout
}

// Nix runs the host's nix with the harness configuration.
func Nix(t testing.TB, extraConfig []string, args ...string) Result {
	t.Helper()
	bin := testutil.RequireTool(t, "nix")
	return run("", nixEnv(t, extraConfig...), append([]string{bin}, args...)...)
}

// Fixture is a closure built by real Nix.
type Fixture struct {
	Attrs   map[string]string // flake attribute → output path
	Roots   []string          // the output paths, sorted
	Closure []string          // every path of their closure, sorted
}

// BuildFixture writes the nixfix fixture flake (busybox, a shared library,
// a "cuda" blob of opts.CudaSize bytes, torch, opts.Packages packages and
// an app; see nixfix.Options) into a temp dir, builds it offline with real
// Nix and returns its closure. Building again with the same options is
// instant (the outputs are already valid).
func BuildFixture(t testing.TB, opts nixfix.Options) *Fixture {
	t.Helper()
	testutil.Short(t)
	if opts.Busybox == "" {
		opts.Busybox = testutil.RequireTool(t, "busybox")
	}
	nix := testutil.RequireTool(t, "nix")
	dir := t.TempDir()
	if err := nixfix.WriteFlake(dir, opts); err != nil {
		t.Fatal(err)
	}
	env := nixEnv(t)
	args := []string{nix, "build", "--no-link"}
	for _, a := range opts.Attrs() {
		args = append(args, dir+"#"+a)
	}
	mustRun(t, dir, env, args...)
	out := mustRun(t, dir, env, nix, "eval", "--json", dir+"#packages."+nixfix.System,
		"--apply", "ps: builtins.mapAttrs (n: p: p.outPath) ps")
	var all map[string]string
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("binarycache: nix eval output: %v", err)
	}
	f := &Fixture{Attrs: make(map[string]string)}
	for _, a := range opts.Attrs() {
		f.Attrs[a] = all[a]
		f.Roots = append(f.Roots, all[a])
	}
	sort.Strings(f.Roots)
	f.Closure = ClosureOf(t, f.Roots...)
	return f
}

// ClosureOf returns the sorted closure of paths in the host store.
func ClosureOf(t testing.TB, paths ...string) []string {
	t.Helper()
	infos := HostPathInfos(t, paths...)
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Path
	}
	sort.Strings(out)
	return out
}

// HostPathInfos returns `nix path-info --json -r` of paths in the host
// store, parsed by the closure package (NarHash as Nix printed it).
func HostPathInfos(t testing.TB, paths ...string) []closure.PathInfo {
	t.Helper()
	return PathInfosFromStore(t, "", paths...)
}

// PathInfosFromStore runs `nix path-info --json -r [--store URL] paths`
// and parses the result (store "" is the host store).
func PathInfosFromStore(t testing.TB, store string, paths ...string) []closure.PathInfo {
	t.Helper()
	args := []string{"path-info", "--json", "-r"}
	if store != "" {
		args = append(args, "--store", store)
	}
	r := Nix(t, nil, append(args, paths...)...)
	if r.Err != nil {
		t.Fatalf("binarycache: nix %s: %v\n%s", strings.Join(args, " "), r.Err, r.Stderr)
	}
	infos, err := closure.ParsePathInfo([]byte(r.Stdout))
	if err != nil {
		t.Fatalf("binarycache: parsing nix path-info output: %v", err)
	}
	return infos
}

// DumpNAR returns `nix-store --dump path` of a path in the host store.
func DumpNAR(t testing.TB, path string) []byte {
	t.Helper()
	bin := testutil.RequireTool(t, "nix-store")
	return []byte(mustRun(t, "", nixEnv(t), bin, "--dump", path))
}

// Key is a binary cache signing key pair from `nix key generate-secret`.
type Key struct {
	Name       string
	Secret     string // "name:base64"
	Public     string // "name:base64", for trusted-public-keys
	SecretFile string // a 0600 file holding Secret, for secret-key=
}

// GenerateKey makes a signing key with real Nix.
func GenerateKey(t testing.TB, name string) Key {
	t.Helper()
	nix := testutil.RequireTool(t, "nix")
	env := nixEnv(t)
	secret := strings.TrimSpace(mustRun(t, "", env, nix, "key", "generate-secret", "--key-name", name))
	cmd := exec.Command(nix, "key", "convert-secret-to-public")
	cmd.Env, cmd.Stdin = env, strings.NewReader(secret)
	pub, err := cmd.Output()
	if err != nil {
		t.Fatalf("binarycache: nix key convert-secret-to-public: %v", err)
	}
	file := filepath.Join(t.TempDir(), name+".sec")
	if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return Key{Name: name, Secret: secret, Public: strings.TrimSpace(string(pub)), SecretFile: file}
}
