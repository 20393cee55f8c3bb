package e2e

// Contents e2e: from: a base image pushed by the test itself.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// Test 4: a base image pushed by the test itself, extended with from:.
func TestE2EContentsFromBaseImage(t *testing.T) {
	testutil.Short(t)
	skopeo := testutil.RequireTool(t, "skopeo")
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox", "app")
	reg := registry.Start(t, registry.Options{})
	baseRef := reg.Ref("contents/base:latest")
	basePlan := writePlan(t, "base.yaml", fmt.Sprintf(`version: 1
layers:
  - name: bb
    deps: [%q]
config:
  env: ["PATH=%s/bin", "BASE=1"]
  labels: {org.example.base: "yes"}
`, fx.Ref("busybox"), out["busybox"]))
	rb := buildCLI(t, basePlan, baseRef)
	var baseManifest struct {
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(run(t, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+baseRef)), &baseManifest); err != nil {
		t.Fatal(err)
	}
	if len(baseManifest.Layers) == 0 {
		t.Fatal("base image has no layers")
	}

	plan := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
from: %s
layers:
  - name: app
    deps: [%q]
config:
  entrypoint: [%q]
  env: ["PATH=/app/bin", "FOO=1"]
`, baseRef, fx.Ref("app"), out["app"]+"/bin/hello"))
	ref := reg.Ref("contents/derived:latest")
	r := buildCLI(t, plan, ref)

	// Config: Env merged (PATH joined plan:base), the base's label kept.
	var cfg struct {
		Config struct {
			Env    []string          `json:"Env"`
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(run(t, skopeo, "inspect", "--config", "--tls-verify=false", "docker://"+ref)), &cfg); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range cfg.Config.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	if want := "/app/bin:" + out["busybox"] + "/bin"; env["PATH"] != want {
		t.Errorf("PATH = %q, want %q (plan's joined before the base's)", env["PATH"], want)
	}
	if env["FOO"] != "1" || env["BASE"] != "1" {
		t.Errorf("Env %v lacks FOO=1 (plan) or BASE=1 (base)", cfg.Config.Env)
	}
	if cfg.Config.Labels["org.example.base"] != "yes" {
		t.Errorf("labels %v lost the base's label", cfg.Config.Labels)
	}

	// Manifest: the base's layers first, by digest.
	var m struct {
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(run(t, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+ref)), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) <= len(baseManifest.Layers) {
		t.Fatalf("derived image has %d layers, base %d: nothing added", len(m.Layers), len(baseManifest.Layers))
	}
	for i, l := range baseManifest.Layers {
		if m.Layers[i].Digest != l.Digest {
			t.Errorf("layer %d = %s, want the base's %s", i, m.Layers[i].Digest, l.Digest)
		}
	}

	// Push: base layers mounted from the base repo, only ours uploaded.
	var ours int64
	fromLayers := 0
	for _, l := range r.Layers {
		switch {
		case strings.HasPrefix(l.Name, "from"):
			fromLayers++
			if l.Status != "mounted" {
				t.Errorf("base layer %s status %q, want mounted", l.Name, l.Status)
			}
		case l.Status == "pushed":
			ours += l.Size
		case l.Status != "empty":
			t.Errorf("layer %s status %q, want pushed", l.Name, l.Status)
		}
	}
	if fromLayers != len(baseManifest.Layers) {
		t.Errorf("report lists %d base layers, the base has %d: %v", fromLayers, len(baseManifest.Layers), layerNames(r))
	}
	if ours == 0 || r.BytesPushed < ours || r.BytesPushed > ours+16<<10 {
		t.Errorf("bytesPushed %d, want our layers' %d plus the config (layers: %v)", r.BytesPushed, ours, layerNames(r))
	}

	// Store paths already in the base are not repeated.
	inBase := map[string]bool{}
	for _, l := range rb.Layers {
		for _, p := range l.Paths {
			inBase[p] = true
		}
	}
	if !inBase[out["busybox"]] {
		t.Fatalf("base report does not list busybox: %v", rb.Layers)
	}
	sawApp := false
	for _, l := range r.Layers {
		if strings.HasPrefix(l.Name, "from") {
			continue
		}
		for _, p := range l.Paths {
			if inBase[p] {
				t.Errorf("layer %s repeats %s from the base", l.Name, p)
			}
			sawApp = sawApp || p == out["app"]
		}
	}
	if !sawApp {
		t.Errorf("no layer holds the app %s: %v", out["app"], layerNames(r))
	}

	got := podmanRun(t, ref)
	if want := "hello from app FOO=1 PATH=/app/bin:" + out["busybox"] + "/bin"; !strings.Contains(got, want) {
		t.Errorf("podman run = %q, want %q", got, want)
	}
}

// A from: image in another registry (docker.io under a ghcr.io target):
// a registry cannot mount across registries, so its layers are uploaded
// in full on the first push, as docs/migrating.md says (issue 18).
func TestE2EContentsFromAnotherRegistryUploadsBaseLayers(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox", "app")
	src := registry.Start(t, registry.Options{})
	dst := registry.Start(t, registry.Options{})
	baseRef := src.Ref("contents/base:latest")
	rb := buildCLI(t, writePlan(t, "base.yaml", fmt.Sprintf("version: 1\nlayers:\n  - name: bb\n    deps: [%q]\n", fx.Ref("busybox"))), baseRef)
	var baseBytes int64
	for _, l := range rb.Layers {
		baseBytes += l.Size
	}
	r := buildCLI(t, writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
from: %s
layers:
  - name: app
    deps: [%q]
config:
  entrypoint: [%q]
`, baseRef, fx.Ref("app"), out["app"]+"/bin/hello")), dst.Ref("contents/derived:latest"))
	var from int
	for _, l := range r.Layers {
		if strings.HasPrefix(l.Name, "from") {
			from++
			if l.Status != "pushed" {
				t.Errorf("base layer %s from another registry: status %q, want pushed", l.Name, l.Status)
			}
		}
	}
	if from == 0 || baseBytes == 0 || r.BytesPushed < baseBytes {
		t.Errorf("%d base layers of %d bytes, %d bytes pushed: the base's layers were not uploaded in full (layers: %v)", from, baseBytes, r.BytesPushed, layerNames(r))
	}
	doc, err := os.ReadFile("../docs/migrating.md")
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(strings.Fields(string(doc)), " "); !strings.Contains(text, "from another registry they are uploaded in full") {
		t.Error("docs/migrating.md does not say that a from: image's layers from another registry are uploaded in full")
	}
}
