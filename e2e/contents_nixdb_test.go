package e2e

// Contents e2e: the Nix database, verified by Nix inside the image.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// Test 3: the Nix database, checked by Nix itself INSIDE the unpacked
// image: the host's nix binary and its shared libraries are copied into the
// rootfs and run under chroot, so it sees the image's /nix/store and
// /nix/var/nix/db exactly as a container would.
func TestE2EContentsNixDBVerifiedInside(t *testing.T) {
	testutil.Short(t)
	if os.Geteuid() != 0 {
		if testutil.InCI() {
			t.Fatal("chroot needs root; CI runs the suite as root")
		}
		t.Skip("chroot needs root")
	}
	chroot := testutil.RequireTool(t, "chroot")
	ldd := testutil.RequireTool(t, "ldd")
	nixBin := testutil.RequireTool(t, "nix")
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "suite", "busybox")
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
  - name: suite
    deps: [%q]
nix-db: true
users:
  - {name: app, uid: 1000, gid: 1000, home: /home/app}
config:
  entrypoint: [%q]
  user: app
`, fx.Ref("busybox"), fx.Ref("suite"), out["suite"]+"/bin/hello"))
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("contents/nixdb:latest")
	buildCLI(t, planFile, ref)
	rootfs := unpackImage(t, ref)

	// The database and the store are the image user's (a non-root Nix
	// needs to write both).
	for _, p := range []string{"nix/store", "nix/var/nix/db", "nix/var/nix/db/db.sqlite"} {
		info, err := os.Lstat(filepath.Join(rootfs, p))
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid := fileOwner(info); uid != 1000 || gid != 1000 {
			t.Errorf("/%s owned by %d:%d, want 1000:1000", p, uid, gid)
		}
	}

	// Install the host's nix into the rootfs: the binary (nix-store is a
	// symlink to it; nix dispatches on argv[0]) and every library ldd names.
	host, err := filepath.EvalSymlinks(nixBin)
	if err != nil {
		t.Fatal(err)
	}
	copyInto(t, rootfs, host, "/usr/bin/nix")
	if err := os.Symlink("nix", filepath.Join(rootfs, "usr/bin/nix-store")); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(run(t, ldd, host), "\n") {
		f := strings.Fields(line)
		var lib string
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0] // the dynamic loader
		default:
			continue
		}
		copyInto(t, rootfs, lib, lib)
	}
	nixStore := func(user string, args ...string) (string, error) {
		full := []string{"--userspec=" + user, rootfs, "/usr/bin/nix-store"}
		cmd := exec.Command(chroot, append(full, args...)...)
		cmd.Env = []string{"NIX_CONFIG=" + nixfix.NixConfig, "HOME=/home/app", "PATH=/usr/bin"}
		// stdout alone for queries; stderr (Nix's warnings about the
		// bare chroot: no /proc, no nixbld group) is appended on failure
		// and for --verify, whose findings go to stderr.
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil || args[0] == "--verify" {
			return stdout.String() + stderr.String(), err
		}
		return stdout.String(), nil
	}

	// Whole closure: busybox, every pk, app, suite.
	g, err := nixfix.Runner(t, fx.Dir).PathInfo(t.Context(), []string{out["suite"], out["busybox"]})
	if err != nil {
		t.Fatal(err)
	}
	closurePaths := g.Paths()
	if len(closurePaths) < contentsPaks+3 {
		t.Fatalf("closure too small to mean anything: %v", closurePaths)
	}
	// As the image user first (as in the container: root would leave
	// root-owned lock files behind), then as root.
	for _, user := range []string{"1000:1000", "0:0"} {
		got, err := nixStore(user, "--verify", "--check-contents")
		if err != nil || strings.Contains(got, "modified") || strings.Contains(got, "error") {
			t.Fatalf("chroot (as %s) nix-store --verify --check-contents: %v\n%s", user, err, got)
		}
	}
	got, err := nixStore("0:0", "-qR", out["suite"])
	if err != nil {
		t.Fatalf("nix-store -qR: %v\n%s", err, got)
	}
	if fields := sortedCopy(strings.Fields(got)); strings.Join(fields, " ") != strings.Join(mustClosure(t, g, out["suite"]), " ") {
		t.Errorf("nix-store -qR %s inside the image = %v, want %v", out["suite"], fields, mustClosure(t, g, out["suite"]))
	}
	got, err = nixStore("0:0", "-q", "--references", out["suite"])
	if err != nil {
		t.Fatalf("nix-store -q --references: %v\n%s", err, got)
	}
	info, _ := g.Info(out["suite"])
	if strings.Join(sortedCopy(strings.Fields(got)), " ") != strings.Join(sortedCopy(info.References), " ") {
		t.Errorf("references of suite inside the image = %v, want %v", strings.Fields(got), info.References)
	}
	if len(info.References) < contentsPaks+1 {
		t.Errorf("suite has only %d references; the fixture should reference app and every pk", len(info.References))
	}

	// Tamper with one store file in the rootfs: the same check must fail
	// and name the path.
	pk2 := fx.OutPaths(t)["pk2"]
	victim := filepath.Join(rootfs, pk2, "share/data")
	if err := os.Chmod(filepath.Dir(victim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(victim, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, []byte("tampered\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	got, err = nixStore("0:0", "--verify", "--check-contents")
	if err == nil || !strings.Contains(got, pk2) {
		t.Fatalf("verify of a tampered image store passed (err %v):\n%s", err, got)
	}
}

func mustClosure(t *testing.T, g interface {
	Closure(...string) ([]string, error)
}, roots ...string) []string {
	t.Helper()
	c, err := g.Closure(roots...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// copyInto copies the host file src to dst inside root (following
// symlinks), creating parent directories.
func copyInto(t *testing.T, root, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(root, dst)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
