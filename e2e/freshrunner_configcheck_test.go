package e2e

// The config check on a fresh runner: the app's bytes come from a binary
// cache and are never on disk, so what the image holds under its store
// path is learnt from the entries the layer writer emitted while building
// the layer from the NAR stream, not from the store.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil/registry"
)

func TestFreshRunnerChecksTheConfigOnWrittenLayers(t *testing.T) {
	f := newFreshFixture(t, nil)
	reg := registry.Start(t, registry.Options{})
	app := f.out["app"]
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
  - name: app
    deps: [%q]
config:
  entrypoint: [%q]
  env: ["PATH=%s/bin:%s/nope"]
`, f.fx.Ref("busybox"), f.fx.Ref("app"), app+"/bin/app", app, app))
	ref := reg.Ref("fresh/checked:latest")

	cold, res, _ := f.freshBuild(t, planFile, "--image", ref)
	if res.Err != nil {
		t.Fatalf("cold fresh build: %v\n%s", res.Err, res.Stderr)
	}
	if s := cold.Layers[cold.layer(t, "app")].Source; s != "substituter" {
		t.Fatalf("app layer source %q, want substituter (built from the NAR stream)", s)
	}
	// bin/app exists in what was written; share/nope does not.
	if strings.Contains(res.Stderr, "config.entrypoint") {
		t.Errorf("the entrypoint the app layer holds was reported:\n%s", res.Stderr)
	}
	want := fmt.Sprintf("config.env[0]: PATH entry %s/nope is not in the image", app)
	if !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
	}

	// No change: the app layer is reused, never written or on disk, so
	// its files cannot be told; the check says so instead of guessing.
	_, res, _ = f.freshBuild(t, planFile, "--image", ref)
	if res.Err != nil {
		t.Fatalf("no-change fresh build: %v\n%s", res.Err, res.Stderr)
	}
	note := fmt.Sprintf("note: %s:8: config.entrypoint[0]: %s/bin/app not checked: store path %s is not on this machine and its layer was reused", planFile, app, app)
	if !strings.Contains(res.Stderr, note) {
		t.Errorf("stderr lacks %q:\n%s", note, res.Stderr)
	}
}
