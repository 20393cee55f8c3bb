package e2e

// Contents e2e: root-filesystem contents from a buildEnv-like derivation.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// Test 2: root contents from a buildEnv-like derivation.
func TestE2EContentsRootLayerFromEnv(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox", "env", "env2")
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
root: [%q]
config:
  cmd: ["/bin/sh", "-c", "echo root-ok; ls /usr/bin/env; cat /etc/os-release"]
`, fx.Ref("busybox"), fx.Ref("env")))
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("contents/env:latest")
	r := buildCLI(t, planFile, ref)

	// Every closure path (env and busybox) in exactly one store layer.
	g, err := nixfix.Runner(t, fx.Dir).PathInfo(t.Context(), []string{out["env"], out["busybox"]})
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, r, g)
	if got := r.Layers[r.layer(t, "root")].Paths; len(got) != 1 || got[0] != out["env"] {
		t.Errorf("root layer store paths %v, want just the env %s", got, out["env"])
	}

	rootfs := unpackImage(t, ref)
	if target, err := os.Readlink(filepath.Join(rootfs, "bin/sh")); err != nil || target != out["busybox"]+"/bin/busybox" {
		t.Errorf("/bin/sh → %q (%v), want a symlink to %s/bin/busybox", target, err, out["busybox"])
	}
	if target, err := os.Readlink(filepath.Join(rootfs, "usr/bin/env")); err != nil || target != out["busybox"]+"/bin/env" {
		t.Errorf("/usr/bin/env → %q (%v)", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, "etc/os-release")); err != nil || string(b) != "ID=nix-layer-action\n" {
		t.Errorf("/etc/os-release = %q (%v)", b, err)
	}

	got := podmanRun(t, ref)
	for _, want := range []string{"root-ok\n", "/usr/bin/env\n", "ID=nix-layer-action\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("podman run output lacks %q:\n%s", want, got)
		}
	}

	// Two root derivations with different etc/os-release: refused, naming
	// both, before anything reaches the registry.
	bad := writePlan(t, "conflict.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
root: [%q, %q]
`, fx.Ref("busybox"), fx.Ref("env"), fx.Ref("env2")))
	before, err := registryCatalog(reg)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCLI(t, nil, "build", "--plan", bad, "--image", reg.Ref("contents/conflict:latest"))
	if err == nil {
		t.Fatal("conflicting root contents accepted")
	}
	msg := err.Error()
	for _, want := range []string{"/etc/os-release", "#env", "#env2", out["env"], out["env2"]} {
		if !strings.Contains(msg, want) {
			t.Errorf("conflict error does not name %q: %v\n%s", want, msg, stderr)
		}
	}
	after, err := registryCatalog(reg)
	if err != nil {
		t.Fatal(err)
	}
	if after != before || strings.Contains(after, "conflict") {
		t.Errorf("registry changed by a refused build: %s → %s", before, after)
	}
}
