package e2e

// Multi-arch through a job matrix (issue 13): each platform's image is
// built from the derivations for its Nix system and pushed by digest, one
// merge makes the index at the tag, and a rebuild of either platform finds
// its layers in its own child of that index. The aarch64 closure is built
// on this x86_64 machine with extra-platforms (its builder is /bin/sh, so
// it runs here): its derivations really declare aarch64-linux, which is
// what the image's platform must follow.

import (
	"encoding/json"
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

// multiFlake is a flake with the same two packages for two systems.
func multiFlake(busybox string) string {
	return fmt.Sprintf(`{
  outputs = { self }:
    let
      pkgs = system: rec {
        busybox = builtins.derivation {
          name = "busybox-1.36";
          inherit system;
          builder = "/bin/sh";
          args = [ "-c" "B=%[1]s; $B mkdir -p $out/bin; $B cp $B $out/bin/busybox; $B ln -s busybox $out/bin/sh; $B ln -s busybox $out/bin/echo" ];
        };
        app = builtins.derivation {
          name = "app-1.0";
          inherit system;
          builder = "/bin/sh";
          args = [ "-c" ''
            B=%[1]s
            $B mkdir -p $out/bin
            $B printf '#!${busybox}/bin/sh\necho "hello from %%s"\n' "${system}" > $out/bin/app
            $B chmod 0555 $out/bin/app
          '' ];
        };
      };
    in {
      packages.x86_64-linux = pkgs "x86_64-linux";
      packages.aarch64-linux = pkgs "aarch64-linux";
    };
}
`, busybox)
}

// multiNixConfig lets aarch64-linux builders run here: they are /bin/sh
// scripts.
const multiNixConfig = nixfix.NixConfig + "\nextra-platforms = aarch64-linux"

// multiEnv is the CLI's environment: the same Nix configuration, so no
// substituter is configured.
var multiEnv = map[string]string{"NIX_CONFIG": multiNixConfig}

// multiBuild runs build and returns the report.
func multiBuild(t *testing.T, planFile, ref string, extra ...string) *cliReport {
	t.Helper()
	return buildCLIEnv(t, multiEnv, planFile, ref, extra...)
}

type multiFixture struct {
	dir, plan string
	reg       *registry.Registry
	repo      string
}

func newMultiFixture(t *testing.T) *multiFixture {
	t.Helper()
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	busybox := testutil.RequireTool(t, "busybox")
	t.Setenv("NIX_CONFIG", multiNixConfig)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(multiFlake(busybox)), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
  - name: app
    deps: [%q]
`, dir+"#busybox", dir+"#app"))
	reg := registry.Start(t, registry.Options{})
	return &multiFixture{dir: dir, plan: plan, reg: reg, repo: reg.Ref("multi/app")}
}

// skopeoJSON runs skopeo inspect with args and decodes its JSON.
func skopeoJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	skopeo := testutil.RequireTool(t, "skopeo")
	out := run(t, skopeo, append([]string{"inspect", "--tls-verify=false"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("skopeo inspect %v: %v\n%s", args, err, out)
	}
}

type inspected struct {
	Digest       string `json:"Digest"`
	Architecture string `json:"Architecture"`
	Os           string `json:"Os"`
}

func TestE2EMultiArchMatrix(t *testing.T) {
	f := newMultiFixture(t)
	tag := f.repo + ":latest"

	// The matrix: one build per system, each pushed by digest. The tag
	// does not exist yet and no build creates it.
	amd := multiBuild(t, f.plan, tag, "--push-by-digest")
	arm := multiBuild(t, f.plan, tag, "--push-by-digest", "--system", "aarch64-linux")
	if amd.Digest == arm.Digest || amd.Layers[0].Key == arm.Layers[0].Key {
		t.Fatalf("both systems gave digest %s / key %s: the system did not select the packages", amd.Digest, amd.Layers[0].Key)
	}
	skopeo := testutil.RequireTool(t, "skopeo")
	if out, err := exec.Command(skopeo, "inspect", "--tls-verify=false", "docker://"+tag).CombinedOutput(); err == nil {
		t.Fatalf("a push by digest created the tag:\n%s", out)
	}
	for want, rep := range map[string]*cliReport{"amd64": amd, "arm64": arm} {
		var cfg struct {
			Architecture string `json:"architecture"`
			OS           string `json:"os"`
		}
		skopeoJSON(t, &cfg, "--config", "docker://"+f.repo+"@"+rep.Digest)
		if cfg.Architecture != want || cfg.OS != "linux" {
			t.Errorf("image %s is for %s/%s, want linux/%s", rep.Digest, cfg.OS, cfg.Architecture, want)
		}
	}

	// The merge job: an OCI index of both at the tag, per platform.
	stdout, stderr, err := runCLI(t, multiEnv, "merge", "--image", tag, amd.Digest, f.repo+"@"+arm.Digest)
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	indexRef := strings.TrimSpace(stdout)
	raw := run(t, skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+tag)
	var idx struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Digest   string `json:"digest"`
			Platform struct {
				Architecture string `json:"architecture"`
				OS           string `json:"os"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 2 ||
		idx.Manifests[0].Platform.Architecture != "amd64" || idx.Manifests[0].Digest != amd.Digest ||
		idx.Manifests[1].Platform.Architecture != "arm64" || idx.Manifests[1].Digest != arm.Digest {
		t.Fatalf("index at %s:\n%s", tag, raw)
	}
	// skopeo resolves the tag to the child for each platform: its config
	// is the config of that platform's image.
	for arch, want := range map[string]string{"amd64": amd.Digest, "arm64": arm.Digest} {
		got := run(t, skopeo, "inspect", "--tls-verify=false", "--override-arch", arch, "--config", "docker://"+tag)
		if direct := run(t, skopeo, "inspect", "--tls-verify=false", "--config", "docker://"+f.repo+"@"+want); got != direct {
			t.Errorf("--override-arch %s resolves to config\n%s\nwant that of %s:\n%s", arch, got, want, direct)
		}
	}

	// Merging the same digests again writes nothing and gives the same index.
	stdout2, stderr2, err := runCLI(t, multiEnv, "merge", "--image", tag, arm.Digest, amd.Digest)
	if err != nil || strings.TrimSpace(stdout2) != indexRef || !strings.Contains(stderr2, "already holds this index") {
		t.Errorf("second merge: %v, %q (want %q)\n%s", err, stdout2, indexRef, stderr2)
	}

	// Per-platform caching: a rebuild of arm64 reads the tag's arm64 child,
	// reuses every layer and pushes nothing.
	again := multiBuild(t, f.plan, tag, "--push-by-digest", "--system", "aarch64-linux")
	if again.Digest != arm.Digest || again.BytesPushed != 0 {
		t.Errorf("arm64 rebuild: digest %s (want %s), %d bytes pushed (want 0)", again.Digest, arm.Digest, again.BytesPushed)
	}
	for _, l := range again.Layers {
		if l.Status != "cached" && l.Status != "empty" {
			t.Errorf("arm64 rebuild: layer %s %s, want cached from the index's arm64 child", l.Name, l.Status)
		}
	}

	// The amd64 image runs; podman picks it from the index.
	podman := testutil.RequireTool(t, "podman")
	var app string
	for _, p := range amd.Layers[amd.layer(t, "app")].Paths {
		if strings.HasSuffix(p, "-app-1.0") {
			app = p
		}
	}
	if got := run(t, podman, "run", "--rm", "--runtime", "runc", "--tls-verify=false", "--pull=always", tag, app+"/bin/app"); !strings.Contains(got, "hello from x86_64-linux") {
		t.Errorf("podman run of the index: %q", got)
	}

	// Smoke-test first, then tag: `tag` moves a tag onto a digest.
	if _, stderr, err := runCLI(t, multiEnv, "tag", "--image", f.repo+":smoke-tested", amd.Digest); err != nil {
		t.Fatalf("tag: %v\n%s", err, stderr)
	}
	var tagged inspected
	skopeoJSON(t, &tagged, "docker://"+f.repo+":smoke-tested")
	if tagged.Digest != amd.Digest {
		t.Errorf("smoke-tested = %s, want %s", tagged.Digest, amd.Digest)
	}
}

// TestE2EPlatformMismatchRefused: asking for aarch64 while the plan names
// the x86_64 package explicitly fails before anything is built or pushed.
func TestE2EPlatformMismatchRefused(t *testing.T) {
	f := newMultiFixture(t)
	plan := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: app
    deps: [%q]
`, f.dir+"#packages.x86_64-linux.app"))
	_, stderr, err := runCLI(t, multiEnv, "build", "--plan", plan, "--image", f.repo+":latest", "--system", "aarch64-linux")
	if err == nil || !strings.Contains(err.Error(), "is built for x86_64-linux, not aarch64-linux") {
		t.Fatalf("mismatch: err=%v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "building") {
		t.Errorf("something was built before the mismatch was found:\n%s", stderr)
	}
	if cat, _ := registryCatalog(f.reg); strings.Contains(cat, "multi/app") {
		t.Errorf("the registry has the repository after a refused build: %s", cat)
	}
	// The plan's system: key says the same as the flag.
	sysPlan := writePlan(t, "nix-layers.yaml", fmt.Sprintf("version: 1\nsystem: aarch64-linux\nlayers:\n  - name: app\n    deps: [%q]\n", f.dir+"#app"))
	layout := filepath.Join(t.TempDir(), "oci")
	if _, stderr, err := runCLI(t, multiEnv, "build", "--plan", sysPlan, "--output", "oci:"+layout); err != nil {
		t.Fatalf("plan with system: aarch64-linux: %v\n%s", err, stderr)
	}
	var cfg struct {
		Architecture string `json:"architecture"`
	}
	skopeoJSON(t, &cfg, "--config", "oci:"+layout)
	if cfg.Architecture != "arm64" {
		t.Errorf("plan system: aarch64-linux gave an image for %q", cfg.Architecture)
	}
}
