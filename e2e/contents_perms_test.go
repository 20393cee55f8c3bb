package e2e

// Contents e2e: plan-level perms.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// Test 7: a plan-level perm sets setuid on one file, and changing it
// changes the key of the layer holding that file only.
func TestE2EContentsPerms(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox", "app", "pk1")
	planWith := func(mode string) string {
		return writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: bb
    deps: [%q]
  - name: pk
    deps: [%q]
  - name: app
    deps: [%q]
perms:
  - {path: "^/nix/store/[^/]+-app-[^/]+/bin/app$", mode: %q}
config:
  entrypoint: [%q]
`, fx.Ref("busybox"), fx.Ref("pk1"), fx.Ref("app"), mode, out["app"]+"/bin/hello"))
	}
	setuid := planWith("4755")
	keys := func(p *planJSON) map[string]string {
		m := map[string]string{}
		for _, l := range p.Layers {
			if !l.Empty {
				m[l.Name] = l.Key
			}
		}
		return m
	}
	k1, k2 := keys(planCLI(t, setuid)), keys(planCLI(t, planWith("4711")))
	if len(k1) != 3 || len(k2) != 3 {
		t.Fatalf("want layers bb, pk, app; got %v and %v", k1, k2)
	}
	for name, key := range k1 {
		switch {
		case name == "app" && k2[name] == key:
			t.Errorf("changing the perm left the app layer's key %s unchanged", key)
		case name != "app" && k2[name] != key:
			t.Errorf("changing a perm that only matches the app changed layer %s's key %s → %s", name, key, k2[name])
		}
	}

	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("contents/perms:latest")
	buildCLI(t, setuid, ref)
	rootfs := unpackImage(t, ref)
	for p, want := range map[string]os.FileMode{
		out["app"] + "/bin/app":   os.ModeSetuid | 0o755,
		out["app"] + "/bin/hello": 0o555,
	} {
		info, err := os.Lstat(filepath.Join(rootfs, p))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want {
			t.Errorf("%s mode %v, want %v", p, info.Mode(), want)
		}
	}
	if got := podmanRun(t, ref); !strings.Contains(got, "hello from app") {
		t.Errorf("podman run = %q", got)
	}
}
