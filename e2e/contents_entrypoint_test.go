package e2e

// Contents e2e: the programs the config starts. A buildEnv-shaped root
// links /bin into the store (nothing copied); root: with a package copies
// its files to / (a second copy of a package a lower layer holds); an
// entrypoint can name an installable so it follows the package; and a
// program the image lacks is a warning naming the plan line, or with
// config.check: strict a failure before anything is tagged.

import (
	"bytes"
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

// imageConfig reads the pushed image's runtime config with skopeo.
func imageConfig(t *testing.T, ref string) (entrypoint, cmd, env []string) {
	t.Helper()
	skopeo := testutil.RequireTool(t, "skopeo")
	var cfg struct {
		Config struct {
			Entrypoint []string `json:"Entrypoint"`
			Cmd        []string `json:"Cmd"`
			Env        []string `json:"Env"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(run(t, skopeo, "inspect", "--config", "--tls-verify=false", "docker://"+ref)), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.Env
}

// buildLogged runs build with a report and returns it and stderr.
func buildLogged(t *testing.T, planFile, ref string) (*cliReport, string) {
	t.Helper()
	rep := filepath.Join(t.TempDir(), "report.json")
	_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", rep)
	if err != nil {
		t.Fatalf("build %s: %v\nstderr:\n%s", planFile, err, stderr)
	}
	return readReport(t, rep), stderr
}

func noConfigWarning(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "config.") {
		t.Errorf("the config check complained about a program the image has:\n%s", stderr)
	}
}

// The buildEnv shape: the env's bin/sh is a symlink into busybox's store
// path, so / gets links, never a second copy of busybox.
func TestE2EEntrypointThroughBuildEnvLinks(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox", "env")
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
root: [%q]
config:
  entrypoint: ["/bin/sh", "-c", "echo shape=env"]
  env: ["PATH=/bin:/usr/bin"]
`, fx.Ref("busybox"), fx.Ref("env")))
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("shapes/env:latest")
	r, stderr := buildLogged(t, planFile, ref)
	noConfigWarning(t, stderr) // /bin/sh → busybox was followed into the base layer

	busybox, err := os.Stat(out["busybox"] + "/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	root := r.Layers[r.layer(t, "root")]
	if root.UncompressedSize >= busybox.Size() {
		t.Errorf("root layer is %d bytes, busybox %d: it holds a copy, not links", root.UncompressedSize, busybox.Size())
	}
	rootfs := unpackImage(t, ref)
	if target, err := os.Readlink(filepath.Join(rootfs, "bin/sh")); err != nil || target != out["busybox"]+"/bin/busybox" {
		t.Errorf("/bin/sh → %q (%v), want a link into the store", target, err)
	}
	if got := podmanRun(t, ref); got != "shape=env\n" {
		t.Errorf("podman run: %q", got)
	}
}

// root: with a package copies its files to /: /bin/busybox is a second
// copy of the binary the base layer holds in the store.
func TestE2ERootCopiesAPackage(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox")
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
root: [%q]
config:
  entrypoint: ["/bin/sh", "-c", "echo shape=copy"]
`, fx.Ref("busybox"), fx.Ref("busybox")))
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("shapes/copy:latest")
	r, stderr := buildLogged(t, planFile, ref)
	noConfigWarning(t, stderr) // /bin/sh → busybox, relative, within /bin

	store, err := os.ReadFile(out["busybox"] + "/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	root := r.Layers[r.layer(t, "root")]
	if len(root.Paths) != 0 || root.UncompressedSize < int64(len(store)) {
		t.Errorf("root layer: paths %v, %d bytes; want no store path and a copy of busybox (%d bytes)", root.Paths, root.UncompressedSize, len(store))
	}
	rootfs := unpackImage(t, ref)
	info, err := os.Lstat(filepath.Join(rootfs, "bin/busybox"))
	if err != nil || !info.Mode().IsRegular() {
		t.Fatalf("/bin/busybox: %v %v, want a regular file", info, err)
	}
	if copied, _ := os.ReadFile(filepath.Join(rootfs, "bin/busybox")); !bytes.Equal(copied, store) {
		t.Error("/bin/busybox differs from the store's busybox")
	}
	if _, err := os.Stat(filepath.Join(rootfs, out["busybox"][1:], "bin/busybox")); err != nil {
		t.Errorf("the store copy is gone too: %v", err)
	}
	if got := podmanRun(t, ref); got != "shape=copy\n" {
		t.Errorf("podman run: %q", got)
	}
}

// {installable, path} in the entrypoint (and {name, installable, path} in
// env) resolves to the store path, so a new version of the package moves
// the entrypoint and the variable with it.
func TestE2EEntrypointFollowsTheInstallable(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("shapes/installable:latest")
	for _, version := range []string{"1.0", "1.1"} {
		fx := contentsFixture(t, map[string]string{"app": version})
		out := fx.Build(t, "busybox", "app")
		planFile := filepath.Join(fx.Dir, "nix-layers.yaml") // ".#app" is this flake
		if err := os.WriteFile(planFile, []byte(`version: 1
layers:
  - name: base
    deps: [".#busybox"]
  - name: app
    deps: [".#app"]
config:
  entrypoint: [{installable: ".#app", path: /bin/hello}]
  env: [{name: FOO, installable: ".#app", path: /share/v`+version+`}]
`), 0o644); err != nil {
			t.Fatal(err)
		}
		r, stderr := buildLogged(t, planFile, ref)
		noConfigWarning(t, stderr)
		if root := r.Layers[r.layer(t, "root")]; len(root.Paths) > 0 {
			t.Errorf("%s: the root layer holds %v; the app is in its own layer", version, root.Paths)
		}
		entrypoint, _, _ := imageConfig(t, ref)
		if want := out["app"] + "/bin/hello"; len(entrypoint) != 1 || entrypoint[0] != want {
			t.Errorf("%s: entrypoint %q, want [%s]", version, entrypoint, want)
		}
		if got := podmanRun(t, ref); !strings.HasPrefix(got, "hello from app FOO="+out["app"]+"/share/v"+version+" ") {
			t.Errorf("%s: podman run: %q", version, got)
		}
	}
}

// The natural /bin/app with no root filesystem: a warning naming the plan
// line (and an image that indeed does not start); with config.check:
// strict the build fails before the tag moves.
func TestE2EEntrypointMissingFromTheImage(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	fx.Build(t, "busybox", "app")
	body := fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
  - name: app
    deps: [%q]
config:
  entrypoint: ["/bin/app"]
  env: ["PATH=/usr/bin"]
`, fx.Ref("busybox"), fx.Ref("app"))
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("shapes/missing:latest")
	planFile := writePlan(t, "nix-layers.yaml", body)
	r, stderr := buildLogged(t, planFile, ref)
	for _, want := range []string{
		planFile + ":8: config.entrypoint[0]: /bin/app is not in the image",
		`write {installable: ".#app", path: "/bin/app"}`,
		planFile + ":9: config.env[0]: PATH entry /usr/bin is not in the image",
	} {
		if !strings.Contains(stderr, "warning: "+want) && !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
		found := false
		for _, w := range r.Warnings {
			found = found || strings.Contains(w, want)
		}
		if !found && !strings.HasPrefix(want, "write") {
			t.Errorf("report warnings %q lack %q", r.Warnings, want)
		}
	}
	// The warning is right: the runtime cannot start /bin/app.
	podman := testutil.RequireTool(t, "podman")
	if out, err := exec.Command(podman, "run", "--rm", "--runtime", "runc", "--tls-verify=false", "--pull=always", ref).CombinedOutput(); err == nil {
		t.Errorf("podman started an image without /bin/app:\n%s", out)
	}

	strict := writePlan(t, "nix-layers.yaml", body+"  check: strict\n")
	before := tagDigest(t, reg, "shapes/missing", "latest")
	_, stderr, err := runCLI(t, nil, "build", "--plan", strict, "--image", ref)
	if err == nil || !strings.Contains(err.Error(), strict+":8: config.entrypoint[0]: /bin/app is not in the image") ||
		!strings.Contains(err.Error(), "(config.check is strict)") {
		t.Fatalf("strict: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "building layer") {
		t.Errorf("strict: layers were built before the check failed:\n%s", stderr)
	}
	if after := tagDigest(t, reg, "shapes/missing", "latest"); after != before {
		t.Errorf("strict failure moved the tag: %s → %s", before, after)
	}
	// plan says the same, without building.
	if _, _, err := runCLI(t, nil, "plan", "--plan", strict); err == nil || !strings.Contains(err.Error(), "config.entrypoint[0]: /bin/app is not in the image") {
		t.Errorf("plan with check: strict: %v", err)
	}
}

// badProgramsFlake is three executables (mode 0555) the kernel treats
// differently: an empty file and a script without "#!" fail with "exec
// format error"; a "#!" script runs.
func badProgramsFlake(busybox string) string {
	return fmt.Sprintf(`{
  outputs = { self }:
    let
      system = "x86_64-linux";
      B = "%s";
    in {
      packages.${system}.progs = builtins.derivation {
        inherit system;
        name = "progs-1.0";
        builder = "/bin/sh";
        args = [ "-c" ''
          $B mkdir -p $out/bin
          $B touch $out/bin/empty
          $B printf 'echo hi\n' > $out/bin/noshebang
          $B printf '#!/bin/sh\necho hi\n' > $out/bin/ok
          $B chmod 0555 $out/bin/empty $out/bin/noshebang $out/bin/ok
        '' ];
        inherit B;
      };
    };
}
`, busybox)
}

// An entrypoint that is an empty file, or an executable the kernel cannot
// run (no ELF header, no "#!"), or one perms: make non-executable, is a
// warning naming the plan line, as a missing one is, not an "exec format
// error" (or "permission denied") at run time (issue 18).
func TestE2EContentsEntrypointNotRunnable(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	busybox := testutil.RequireTool(t, "busybox")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(badProgramsFlake(busybox)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NIX_CONFIG": nixfix.NixConfig}
	for _, c := range []struct{ prog, mode, want string }{
		{"empty", "", `/bin/empty is an empty file: the runtime fails to start it with "exec format error"`},
		{"noshebang", "", `/bin/noshebang is neither an ELF binary nor a "#!" script: the runtime fails to start it with "exec format error"`},
		{"ok", "", ""},
		// perms: decide the mode in the image, not the store's 0555.
		{"ok", "0644", "/bin/ok is not executable (mode 0644)"},
	} {
		prog, want := c.prog, c.want
		perms := "perms: []"
		if c.mode != "" {
			perms = fmt.Sprintf("perms: [{path: \"/bin/ok$\", mode: %q}]", c.mode)
		}
		plan := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: progs
    deps: [%q]
config:
  entrypoint: [{installable: %q, path: /bin/%s}]
%s
`, dir+"#progs", dir+"#progs", prog, perms))
		_, stderr, err := runCLI(t, env, "build", "--plan", plan, "--output", "oci:"+filepath.Join(t.TempDir(), "oci"))
		if err != nil {
			t.Fatalf("%s: build: %v\n%s", prog, err, stderr)
		}
		switch {
		case want == "":
			noConfigWarning(t, stderr)
		case !strings.Contains(stderr, "nix-layers.yaml:6: config.entrypoint[0]: ") || !strings.Contains(stderr, want):
			t.Errorf("%s: no warning naming nix-layers.yaml:6 config.entrypoint[0] and %q:\n%s", prog, want, stderr)
		}
	}
}
