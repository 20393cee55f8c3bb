package actionrunner_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// productFallsBackToSystemTemp is whether the action, on runners older than
// v2.331 (no /github/runner_temp mount, RUNNER_TEMP a host path), falls back
// to the system temp dir. Before the product did, TestOldRunnerTemp
// asserted its failure ("creating temp dir: stat <RUNNER_TEMP>: no such
// file or directory"); set it to false to check that again.
const productFallsBackToSystemTemp = true

// pushTwice runs the action, then reruns it in a fresh container, and checks
// what a no-change rerun must give.
func pushTwice(t *testing.T, o actionrunner.Options, layers int) (first, second actionrunner.Result) {
	t.Helper()
	first = actionrunner.Run(t, o)
	requireOK(t, "first run", first)
	digest := first.Outputs["digest"]
	if !strings.HasPrefix(digest, "sha256:") || first.Outputs["changed"] != "true" || first.Outputs["bytes-pushed"] == "0" ||
		first.Outputs["layers-pushed"] != strconv.Itoa(layers) {
		t.Errorf("first run outputs: %v", first.Outputs)
	}
	if got, want := first.Outputs["image"], o.Inputs["image"]+"@"+digest; got != want {
		t.Errorf("image output %q, want %q", got, want)
	}
	var meta struct {
		Digest      string `json:"digest"`
		BytesPushed int64  `json:"bytesPushed"`
	}
	if err := json.Unmarshal([]byte(first.Outputs["metadata"]), &meta); err != nil || meta.Digest != digest {
		t.Errorf("metadata output is not the report (%v): %.200s", err, first.Outputs["metadata"])
	}
	if !strings.Contains(first.Summary, "|") || !strings.Contains(first.Summary, digest) {
		t.Errorf("job summary lacks the layer table or the digest:\n%s", first.Summary)
	}

	// A fresh workspace owned by the runner, as the next job checks it out.
	second = actionrunner.Run(t, o)
	requireOK(t, "rerun", second)
	if second.Outputs["bytes-pushed"] != "0" || second.Outputs["changed"] != "false" || second.Outputs["digest"] != digest ||
		second.Outputs["layers-cached"] != strconv.Itoa(layers) {
		t.Errorf("no-change rerun outputs: %v", second.Outputs)
	}
	for _, r := range []actionrunner.Result{first, second} {
		actionrunner.AssertNoSecret(t, r, canary)
		if left := withoutGitIndex(r.RootOwned); len(left) > 0 {
			t.Errorf("the step left root-owned files for the runner: %v", left)
		}
		if !strings.Contains(r.Stdout, "::add-mask::") {
			t.Error("the token was not masked")
		}
	}
	return first, second
}

// TestActionExample pushes the bundled example (closure graph and store
// tree, no Nix build) to a real registry on loopback, and reruns it.
func TestActionExample(t *testing.T) {
	testutil.Short(t)
	img := actionrunner.BuildImage(t, "2.34")
	reg := registry.Start(t, registry.Options{})
	o := actionrunner.Options{
		Image: img, Workspace: exampleWorkspace(t), Token: canary, NewRunner: true,
		Inputs: map[string]string{"image": reg.Ref("org/example"), "tags": "nightly\n", "nix-conf": offlineNixConf},
	}
	pushTwice(t, o, 3)
}

// TestActionFlake builds a real flake checked out by the runner's uid with
// each Nix version, pushes it and reruns it.
func TestActionFlake(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	for _, v := range actionrunner.NixVersions {
		t.Run("nix-"+v, func(t *testing.T) {
			img := actionrunner.BuildImage(t, v)
			o := actionrunner.Options{
				Image: img, Workspace: flakeWorkspace(t), Token: canary, NewRunner: true,
				Inputs: map[string]string{"image": reg.Ref("org/flake-" + strings.ReplaceAll(v, ".", "-")), "nix-conf": offlineNixConf},
			}
			first, _ := pushTwice(t, o, 3)
			for _, w := range nixWarnings(first.Stdout + "\n" + first.Stderr) {
				t.Errorf("Nix %s warns in the action log: %s", v, w)
			}
		})
	}
}

// TestOldRunnerTemp runs the action as runners before v2.331 do: no
// /github/runner_temp mount, RUNNER_TEMP still the host path.
func TestOldRunnerTemp(t *testing.T) {
	testutil.Short(t)
	img := actionrunner.BuildImage(t, "2.34")
	reg := registry.Start(t, registry.Options{})
	o := actionrunner.Options{
		Image: img, Workspace: exampleWorkspace(t), Token: canary, NewRunner: false,
		Inputs: map[string]string{"image": reg.Ref("org/old-runner"), "nix-conf": offlineNixConf},
	}
	r := actionrunner.Run(t, o)
	actionrunner.AssertNoSecret(t, r, canary)
	if productFallsBackToSystemTemp {
		requireOK(t, "old runner", r)
		if !strings.HasPrefix(r.Outputs["digest"], "sha256:") {
			t.Errorf("outputs: %v", r.Outputs)
		}
		if want := "RUNNER_TEMP " + r.Host.Temp + " is not available"; !strings.Contains(r.Stdout, want) {
			t.Errorf("no notice %q about the fallback:\n%s", want, r.Stdout)
		}
		return
	}
	want := "creating temp dir: stat " + r.Host.Temp + ": no such file or directory"
	if r.ExitCode == 0 || !strings.Contains(r.Stdout+r.Stderr, want) {
		t.Fatalf("expected today's failure %q; exit %d\nstdout:\n%s\nstderr:\n%s", want, r.ExitCode, r.Stdout, r.Stderr)
	}
}

// TestBinaryCacheSubstitution makes a signed file:// binary cache on the
// host, mounts it into the container and hands it to the action through the
// nix-conf input: the action reads the flake's outputs from the cache's
// NARs (layer source "substituter") and Nix builds nothing. Without the
// input Nix builds them (the control).
func TestBinaryCacheSubstitution(t *testing.T) {
	testutil.Short(t)
	nix := testutil.RequireTool(t, "nix")
	img := actionrunner.BuildImage(t, "2.34")
	cache, pubKey := binaryCache(t, nix)
	reg := registry.Start(t, registry.Options{})
	conf := offlineNixConf + "\nextra-substituters = file:///cache\nextra-trusted-public-keys = " + pubKey
	for _, c := range []struct {
		name, conf  string
		substitutes bool
	}{{"with nix-conf", conf, true}, {"without (control)", offlineNixConf, false}} {
		t.Run(c.name, func(t *testing.T) {
			r := actionrunner.Run(t, actionrunner.Options{
				Image: img, Workspace: flakeWorkspace(t), Token: canary, NewRunner: true,
				Inputs: map[string]string{"image": reg.Ref("org/substituted"), "nix-conf": c.conf},
				Mounts: []actionrunner.Mount{{Host: cache, Container: "/cache", ReadOnly: true}},
			})
			requireOK(t, c.name, r)
			log := r.Stdout + r.Stderr // Nix's log is in the action's log group
			built := strings.Contains(log, "building '/nix/store/") && strings.Contains(log, "-nla-runner-app-1.0.drv'")
			var meta struct {
				Layers []struct {
					Name, Source string
					Empty        bool
				} `json:"layers"`
			}
			if err := json.Unmarshal([]byte(r.Outputs["metadata"]), &meta); err != nil || len(meta.Layers) == 0 {
				t.Fatalf("metadata output: %v\n%s", err, r.Outputs["metadata"])
			}
			for _, l := range meta.Layers {
				if l.Empty {
					continue
				}
				if fromCache := l.Source == "substituter"; fromCache != c.substitutes {
					t.Errorf("layer %s source %q; want from the cache: %v", l.Name, l.Source, c.substitutes)
				}
			}
			if built == c.substitutes {
				t.Errorf("nix built the flake: %v; want %v\nlog:\n%s", built, !c.substitutes, log)
			}
		})
	}
}

// binaryCache builds the test flake with the host's Nix and copies its
// closure into a new signed file:// cache; it returns the cache directory
// and the public key.
func binaryCache(t *testing.T, nix string) (dir, pubKey string) {
	t.Helper()
	tmp := t.TempDir()
	flake := filepath.Join(tmp, "flake")
	if err := os.MkdirAll(flake, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(flake, "flake.nix"), flakeNix)
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(nix, append([]string{"--extra-experimental-features", "nix-command flakes"}, args...)...)
		cmd.Dir = flake
		cmd.Env = append(os.Environ(), nixfix.Env()...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("nix %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return strings.TrimSpace(string(out))
	}
	secret := run("", "key", "generate-secret", "--key-name", "nla-test-cache-1")
	pubKey = run(secret, "key", "convert-secret-to-public")
	keyFile := filepath.Join(tmp, "secret-key")
	write(t, keyFile, secret)
	var built []struct{ Outputs map[string]string }
	js := run("", "build", "--no-link", "--json", "path:"+flake+"#app")
	if err := json.Unmarshal([]byte(js), &built); err != nil || len(built) != 1 || built[0].Outputs["out"] == "" {
		t.Fatalf("nix build --json: %v: %s", err, js)
	}
	dir = filepath.Join(tmp, "cache")
	run("", "copy", "--to", "file://"+dir+"?secret-key="+keyFile, built[0].Outputs["out"])
	return dir, pubKey
}

// TestRegistryCredentials shows where credentials for a registry other than
// GHCR must be for the action to see them: docker/login-action writes
// ${DOCKER_CONFIG:-$HOME/.docker}/config.json on the runner, whose HOME is
// not the container's. With DOCKER_CONFIG pointing into
// ${{ runner.temp }}/_github_home (mounted as /github/home; the runner
// translates the path) the push is authenticated; a config.json the
// container cannot see leaves it anonymous and the push fails.
func TestRegistryCredentials(t *testing.T) {
	testutil.Short(t)
	img := actionrunner.BuildImage(t, "2.34")
	reg := registry.Start(t, registry.Options{Htpasswd: map[string]string{"ci": "s3cret-password"}})
	cfg, err := os.ReadFile(filepath.Join(reg.DockerConfigDir(t, "ci"), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	base := actionrunner.Options{
		Image: img, Token: canary, NewRunner: true,
		Inputs: map[string]string{"image": reg.Ref("org/private"), "nix-conf": offlineNixConf},
	}

	// Where login-action writes with the step env DOCKER_CONFIG set as in
	// docs/action-image.md.
	ok := base
	ok.Workspace = exampleWorkspace(t)
	ok.HomeFiles = map[string][]byte{"docker-config/config.json": cfg}
	ok.Env = map[string]string{"DOCKER_CONFIG": "{{runner.temp}}/_github_home/docker-config"}
	r := actionrunner.Run(t, ok)
	requireOK(t, "with DOCKER_CONFIG under _github_home", r)
	if r.Env["DOCKER_CONFIG"] != "/github/home/docker-config" {
		t.Errorf("DOCKER_CONFIG not translated: %q", r.Env["DOCKER_CONFIG"])
	}
	actionrunner.AssertNoSecret(t, r, "s3cret-password")

	// DOCKER_CONFIG set on the login step only: the file lands in
	// /github/home/.docker, where the keychain looks by default.
	home := base
	home.Workspace = exampleWorkspace(t)
	home.HomeFiles = map[string][]byte{".docker/config.json": cfg}
	r = actionrunner.Run(t, home)
	requireOK(t, "with /github/home/.docker/config.json", r)

	// Without it the container has no credentials.
	anon := base
	anon.Workspace = exampleWorkspace(t)
	r = actionrunner.Run(t, anon)
	if r.ExitCode == 0 || !strings.Contains(r.Stdout+r.Stderr, "401") && !strings.Contains(strings.ToLower(r.Stdout+r.Stderr), "unauthorized") {
		t.Errorf("anonymous push: exit %d, want an authentication failure\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}
