package e2e

// Contents e2e: a non-root image user with a writable home and /tmp.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// Test 1: a non-root image. The entrypoint runs as the plan's user, whose
// home (from the generated /etc/passwd) and /tmp are writable.
func TestE2EContentsNonRootUser(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "app")
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: app
    deps: [%q]
tmp: true
users:
  - {name: app, uid: 1000, gid: 1000, home: /home/app}
config:
  entrypoint: [%q]
  user: app
`, fx.Ref("app"), out["app"]+"/bin/app"))
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("contents/user:latest")
	r := buildCLI(t, planFile, ref)

	// The root layer holds no store path (the app is in "app") but has the
	// users and /tmp: it must be in the image, not left out as empty.
	root := r.layer(t, "root")
	if r.Layers[root].Status == "empty" || r.Layers[root].Digest == "" {
		t.Fatalf("root layer with users and /tmp was left out: %v", layerNames(r))
	}

	rootfs := unpackImage(t, ref)
	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), "\napp:x:1000:1000:app:/home/app:") {
		t.Errorf("/etc/passwd = %q (%v), want a line for app", passwd, err)
	}
	for p, want := range map[string]struct {
		mode     os.FileMode
		uid, gid uint32
	}{
		"home/app": {os.ModeDir | 0o755, 1000, 1000},
		"tmp":      {os.ModeDir | os.ModeSticky | 0o777, 0, 0},
	} {
		info, err := os.Lstat(filepath.Join(rootfs, p))
		if err != nil {
			t.Errorf("/%s: %v", p, err)
			continue
		}
		uid, gid := fileOwner(info)
		if info.Mode() != want.mode || uid != want.uid || gid != want.gid {
			t.Errorf("/%s = %v %d:%d, want %v %d:%d", p, info.Mode(), uid, gid, want.mode, want.uid, want.gid)
		}
	}

	got := podmanRun(t, ref)
	for _, want := range []string{"uid=1000\n", "home=/home/app\n", "home-write-ok\n", "tmp-write-ok\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("podman run output lacks %q:\n%s", want, got)
		}
	}
}
