package e2e

// End-to-end tests of the CLI with the real parts users have: real Nix
// closures (internal/testutil/nixfix), the real CNCF docker-registry, and
// skopeo, umoci and podman pulling and running what we push.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/logs"

	"github.com/org/nix-layer-action/internal/cli"
	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// cliReport mirrors the --report JSON shape the issue fixes.
type cliReport struct {
	Image         string   `json:"image"`
	Digest        string   `json:"digest"`
	Changed       bool     `json:"changed"`
	BytesPushed   int64    `json:"bytesPushed"`
	Warnings      []string `json:"warnings"`
	SupersededBy  string   `json:"supersededBy"`
	PeakTempBytes int64    `json:"peakTempBytes"`
	Shard         string   `json:"shard"`
	Layers        []struct {
		Name             string   `json:"name"`
		Digest           string   `json:"digest"`
		DiffID           string   `json:"diffID"`
		Size             int64    `json:"size"`
		UncompressedSize int64    `json:"uncompressedSize"`
		Paths            []string `json:"paths"`
		Key              string   `json:"key"`
		Status           string   `json:"status"`
		Source           string   `json:"source"`
	} `json:"layers"`
}

func (r *cliReport) layer(t *testing.T, name string) int {
	t.Helper()
	for i, l := range r.Layers {
		if l.Name == name {
			return i
		}
	}
	t.Fatalf("report has no layer %q", name)
	return -1
}

// runCLI runs the command line as the binary would, with the given environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := cli.Run(context.Background(), args, cli.Env{Getenv: getenv, Stdout: &stdout, Stderr: &stderr})
	return stdout.String(), stderr.String(), err
}

func readReport(t *testing.T, file string) *cliReport {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r cliReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report %s: %v\n%s", file, err, data)
	}
	return &r
}

// seedPlan models the users' image: shared lower layers, a big blob, a
// framework, packages and an app on top, with the app as entrypoint.
func seedPlan(fx *nixfix.Fixture, out map[string]string) string {
	return fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
  - name: cuda
    deps: [%q]
  - name: torch
    deps: [%q]
  - name: paks
    deps: [%q, %q, %q]
  - name: app
    deps: [%q]
config:
  entrypoint: [%q]
  env: ["PATH=%s/bin"]
  labels: {org.example.test: "e2e"}
`, fx.Ref("baseTools"), fx.Ref("cuda"), fx.Ref("torch"), fx.Ref("pak1"), fx.Ref("pak2"), fx.Ref("pak3"),
		fx.Ref("app"), out["app"]+"/bin/app", out["busybox"])
}

func setupSeed(t *testing.T, opts nixfix.Options) (*nixfix.Fixture, map[string]string, string) {
	t.Helper()
	testutil.RequireTool(t, "nix")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	fx := nixfix.Flake(t, t.TempDir(), opts)
	out := fx.Build(t)
	planDir := t.TempDir()
	planFile := filepath.Join(planDir, "nix-layers.yaml")
	if err := os.WriteFile(planFile, []byte(seedPlan(fx, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	return fx, out, planFile
}

func TestE2ERegistryPushPullRun(t *testing.T) {
	testutil.Short(t)
	_, out, planFile := setupSeed(t, nixfix.Options{Packages: 3, CudaSize: 2 << 20})
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("e2e/app:latest")
	dir := t.TempDir()

	// Cold build: every layer is pushed.
	rep1File := filepath.Join(dir, "r1.json")
	stdout, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", rep1File, "--tag", "v1")
	if err != nil {
		t.Fatalf("build: %v\nstderr:\n%s", err, stderr)
	}
	r1 := readReport(t, rep1File)
	if !strings.Contains(stdout, r1.Digest) {
		t.Errorf("stdout does not end with the pushed digest %s:\n%s", r1.Digest, stdout)
	}
	if !r1.Changed || r1.BytesPushed == 0 {
		t.Errorf("cold build: changed=%v bytesPushed=%d, want true and > 0", r1.Changed, r1.BytesPushed)
	}
	var sum int64
	for _, l := range r1.Layers {
		if l.Status == "empty" {
			continue
		}
		if l.Status != "pushed" {
			t.Errorf("cold build: layer %s status %q, want pushed", l.Name, l.Status)
		}
		sum += l.Size
	}
	if r1.BytesPushed < sum {
		t.Errorf("bytesPushed %d < sum of layer sizes %d", r1.BytesPushed, sum)
	}

	// Every closure path in exactly one layer: compare with nix's own closure.
	n := nixfix.Runner(t, t.TempDir())
	g, err := n.PathInfo(context.Background(), []string{out["baseTools"], out["cuda"], out["torch"], out["pak1"], out["pak2"], out["pak3"], out["app"], out["busybox"]})
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, r1, g)

	// The image pulls with skopeo, every blob re-hashes, umoci unpacks it
	// and the store paths are there.
	skopeo := testutil.RequireTool(t, "skopeo")
	ociDir := filepath.Join(dir, "oci")
	run(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+ociDir+":latest")
	verifyBlobs(t, ociDir)
	umoci := testutil.RequireTool(t, "umoci")
	bundle := filepath.Join(dir, "bundle")
	run(t, umoci, "unpack", "--image", ociDir+":latest", bundle)
	for _, p := range r1.Layers[r1.layer(t, "torch")].Paths {
		if _, err := os.Lstat(filepath.Join(bundle, "rootfs", p)); err != nil {
			t.Errorf("unpacked image lacks %s: %v", p, err)
		}
	}
	// The extra tag points at the same image.
	tagged := run(t, skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+reg.Ref("e2e/app:v1"))
	if strings.TrimSpace(tagged) != r1.Digest {
		t.Errorf("tag v1 = %s, want %s", tagged, r1.Digest)
	}

	// podman runs the entrypoint.
	podman := testutil.RequireTool(t, "podman")
	got := run(t, podman, "run", "--rm", "--runtime", "runc", "--tls-verify=false", "--pull=always", ref)
	if !strings.Contains(got, "hello from app") {
		t.Errorf("podman run output %q lacks the app's greeting", got)
	}

	// Rerun with nothing changed: 0 bytes uploaded, same digest, all cached.
	rep2File := filepath.Join(dir, "r2.json")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", rep2File); err != nil {
		t.Fatalf("rerun: %v\n%s", err, stderr)
	}
	r2 := readReport(t, rep2File)
	if r2.Digest != r1.Digest || r2.BytesPushed != 0 || r2.Changed {
		t.Errorf("rerun: digest %s (want %s), bytesPushed %d (want 0), changed %v (want false)", r2.Digest, r1.Digest, r2.BytesPushed, r2.Changed)
	}
	for _, l := range r2.Layers {
		if l.Status != "cached" && l.Status != "empty" {
			t.Errorf("rerun: layer %s status %q, want cached", l.Name, l.Status)
		}
	}

	// Same plan to an OCI layout with one CPU: same digest, bit for bit.
	layoutDir := filepath.Join(dir, "layout")
	cmd := exec.Command(buildBinary(t), "build", "--plan", planFile, "--output", "oci:"+layoutDir, "--report", filepath.Join(dir, "r3.json"))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oci build with GOMAXPROCS=1: %v\n%s", err, b)
	}
	if r3 := readReport(t, filepath.Join(dir, "r3.json")); r3.Digest != r1.Digest {
		t.Errorf("GOMAXPROCS=1 OCI layout digest %s != registry digest %s", r3.Digest, r1.Digest)
	}
	run(t, skopeo, "inspect", "oci:"+layoutDir)

	// A cross-repo cache: a new repo reusing the first by --cache-from mounts.
	rep4File := filepath.Join(dir, "r4.json")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", reg.Ref("e2e/other:latest"), "--cache-from", ref, "--report", rep4File); err != nil {
		t.Fatalf("cache-from build: %v\n%s", err, stderr)
	}
	r4 := readReport(t, rep4File)
	if r4.Digest != r1.Digest {
		t.Errorf("cache-from digest %s != %s", r4.Digest, r1.Digest)
	}
	for _, l := range r4.Layers {
		if l.Status != "mounted" && l.Status != "empty" {
			t.Errorf("cache-from: layer %s status %q, want mounted", l.Name, l.Status)
		}
	}
}

func TestE2EOnePackageChangeRebuildsOnlyItsLayers(t *testing.T) {
	testutil.Short(t)
	_, _, planFile := setupSeed(t, nixfix.Options{Packages: 3})
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("e2e/change:latest")
	dir := t.TempDir()
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", filepath.Join(dir, "a.json")); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	a := readReport(t, filepath.Join(dir, "a.json"))

	// pak1 gets a new version: the paks layer changes, and the app (which
	// references pak1) changes; base, cuda and torch must not be rebuilt.
	_, _, planFile2 := setupSeed(t, nixfix.Options{Packages: 3, Versions: map[string]string{"pak1": "9.9.9"}})
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile2, "--image", ref, "--report", filepath.Join(dir, "b.json")); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, stderr)
	}
	b := readReport(t, filepath.Join(dir, "b.json"))
	if b.Digest == a.Digest || !b.Changed {
		t.Fatalf("changed plan kept digest %s (changed=%v)", b.Digest, b.Changed)
	}
	var pushed int64
	for _, l := range b.Layers {
		switch l.Name {
		case "base", "cuda", "torch":
			if l.Status != "cached" {
				t.Errorf("layer %s status %q, want cached", l.Name, l.Status)
			}
			if l.Digest != a.Layers[a.layer(t, l.Name)].Digest {
				t.Errorf("layer %s digest changed", l.Name)
			}
		case "paks", "app":
			if l.Status != "pushed" {
				t.Errorf("layer %s status %q, want pushed", l.Name, l.Status)
			}
			pushed += l.Size
		}
	}
	if b.BytesPushed < pushed || b.BytesPushed > pushed+64<<10 {
		t.Errorf("bytesPushed %d, want the changed layers' %d plus a small config", b.BytesPushed, pushed)
	}
}

func TestE2EBadPlanFailsBeforeAnyWork(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	dir := t.TempDir()
	planFile := filepath.Join(dir, "bad.yaml")
	os.WriteFile(planFile, []byte("version: 1\nlayers:\n  - name: base\n    deps: [\".#a\"]\n  - name: base\n    deps: [\".#b\"]\n"), 0o644)
	_, _, err := runCLI(t, nil, "build", "--plan", planFile, "--image", reg.Ref("e2e/bad:latest"))
	if err == nil {
		t.Fatal("bad plan accepted")
	}
	if !strings.Contains(err.Error(), "bad.yaml:5") || !strings.Contains(err.Error(), "name") {
		t.Errorf("error %q does not name file:line and field", err)
	}
	// Nothing reached the registry.
	resp, gerr := registryCatalog(reg)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if strings.Contains(resp, "e2e/bad") {
		t.Errorf("bad plan left something in the registry: %s", resp)
	}
}

func TestE2EBasicAuthRegistryAndDockerArchive(t *testing.T) {
	testutil.Short(t)
	_, _, planFile := setupSeed(t, nixfix.Options{Packages: 3})
	reg := registry.Start(t, registry.Options{Htpasswd: map[string]string{"ci": "s3cret-canary"}})
	ref := reg.Ref("e2e/auth:latest")

	// Without credentials the push fails with a clear error.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, _, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref); err == nil {
		t.Fatal("push without credentials succeeded")
	}
	t.Setenv("DOCKER_CONFIG", reg.DockerConfigDir(t, "ci"))
	stdout, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref)
	if err != nil {
		t.Fatalf("authenticated push: %v\n%s", err, stderr)
	}
	if strings.Contains(stdout+stderr, "s3cret-canary") {
		t.Error("password appears in the output")
	}

	// With --debug every registry exchange is logged, credentials redacted.
	t.Cleanup(func() {
		logs.Debug = log.New(io.Discard, "", 0)
		logs.Warn = log.New(io.Discard, "", 0)
	})
	stdout, stderr, err = runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--debug")
	if err != nil {
		t.Fatalf("debug push: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "debug: ") || (!strings.Contains(stderr, "--> HEAD") && !strings.Contains(stderr, "--> GET")) {
		t.Errorf("--debug logged no registry requests:\n%.2000s", stderr)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("ci:s3cret-canary"))
	if strings.Contains(stdout+stderr, "s3cret-canary") || strings.Contains(stdout+stderr, basic) {
		t.Error("the password appears in the --debug output")
	}

	archive := filepath.Join(t.TempDir(), "img.tar")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--output", "docker-archive:"+archive); err != nil {
		t.Fatalf("docker-archive: %v\n%s", err, stderr)
	}
	skopeo := testutil.RequireTool(t, "skopeo")
	inspect := run(t, skopeo, "inspect", "docker-archive:"+archive)
	if !strings.Contains(inspect, "Layers") {
		t.Errorf("skopeo cannot read the docker archive: %s", inspect)
	}
}

// checkExactlyOnce asserts every path of g's whole closure is in exactly one
// layer of the report, and no layer holds anything else.
func checkExactlyOnce(t *testing.T, r *cliReport, g *closure.Graph) {
	t.Helper()
	count := map[string]int{}
	for _, l := range r.Layers {
		for _, p := range l.Paths {
			count[p]++
		}
	}
	for _, p := range g.Paths() {
		if count[p] != 1 {
			t.Errorf("closure path %s is in %d layers, want exactly 1", p, count[p])
		}
		delete(count, p)
	}
	var extra []string
	for p := range count {
		extra = append(extra, p)
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("layers hold paths outside the closure: %v", extra)
	}
}

// The bundled example (closure graph + store tree, no Nix) gives the same
// digest after every store file's mtime is touched and its permission bits
// are changed beyond the executable bit (another checkout's umask), with one
// or two CPUs, to an OCI layout and a docker archive alike.
func TestE2EExampleDeterministicAcrossMtimesModesAndCPUs(t *testing.T) {
	copyTree := func(dst string) {
		t.Helper()
		if out, err := exec.Command("cp", "-a", "../examples/quickstart/.", dst).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
	}
	build := func(dir string, gomaxprocs string) string {
		t.Helper()
		rep := filepath.Join(t.TempDir(), "r.json")
		cmd := exec.Command(buildBinary(t), "build", "--plan", filepath.Join(dir, "nix-layers.yaml"), "--output", "oci:"+filepath.Join(t.TempDir(), "oci"), "--report", rep)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+gomaxprocs)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		return readReport(t, rep).Digest
	}
	a := t.TempDir()
	copyTree(a)
	want := build(a, "2")

	b := t.TempDir()
	copyTree(b)
	stamp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	filepath.Walk(filepath.Join(b, "store"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.Mode()&os.ModeSymlink != 0 {
			return err
		}
		if info.Mode().IsRegular() {
			os.Chmod(p, info.Mode().Perm()|0o220) // group/owner writable, as under umask 002
		}
		return os.Chtimes(p, stamp, stamp)
	})
	if got := build(b, "1"); got != want {
		t.Errorf("touched store with GOMAXPROCS=1: digest %s, want %s", got, want)
	}

	// Changing one file's content is seen (the test can fail): its bytes
	// no longer hash to the NarHash the closure graph records, so nothing
	// is written under the old key.
	c := t.TempDir()
	copyTree(c)
	matches, _ := filepath.Glob(filepath.Join(c, "store/nix/store/*-libshared-1.0/share/greeting.txt"))
	if len(matches) != 1 {
		t.Fatalf("example tree changed: %v", matches)
	}
	os.Chmod(matches[0], 0o644)
	os.WriteFile(matches[0], []byte("tampered\n"), 0o644)
	cmd := exec.Command(buildBinary(t), "build", "--plan", filepath.Join(c, "nix-layers.yaml"), "--output", "oci:"+filepath.Join(t.TempDir(), "oci"))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "libshared-1.0 was modified after Nix registered it") {
		t.Errorf("a changed store file: %v, want the build to fail naming the path\n%s", err, out)
	}
}

// Before Nix builds what no store or cache has, the tool says so in its
// own words (how many derivations, which, why), and Nix's "don't know how
// to build these paths:" (which `nix path-info` prints for any path the
// store lacks, and which reads like an error) is not relayed. `plan`
// builds them too: a closure is known only once built (issue 18).
func TestE2EAnnouncesWhatNixBuilds(t *testing.T) {
	dir := announceFlake(t)
	plan := writePlan(t, "nix-layers.yaml", fmt.Sprintf("version: 1\nlayers:\n  - name: app\n    deps: [%q]\n", dir+"#app"))
	env := map[string]string{"NIX_CONFIG": nixfix.NixConfig}
	_, stderr, err := runCLI(t, env, "plan", "--plan", plan)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr)
	}
	want := "nix: building 2 derivations no store or binary cache has (a package's closure is known only once it is built), for " + dir + "#app: "
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "announce-lib-1.0") || !strings.Contains(stderr, "announce-app-2.1") {
		t.Errorf("plan does not announce what it builds (want %q naming both):\n%s", want, stderr)
	}
	if strings.Contains(stderr, "don't know how to build") {
		t.Errorf("Nix's \"don't know how to build\" was relayed:\n%s", stderr)
	}
}

// plan --no-build builds nothing: it names the deps that need a build,
// their layers and the derivations, and exits 0 (issue 18).
func TestE2EPlanNoBuild(t *testing.T) {
	dir := announceFlake(t)
	plan := writePlan(t, "nix-layers.yaml", fmt.Sprintf("version: 1\nlayers:\n  - name: base\n    deps: [%q]\n  - name: app\n    deps: [%q]\n", dir+"#lib", dir+"#app"))
	env := map[string]string{"NIX_CONFIG": nixfix.NixConfig}
	stdout, stderr, err := runCLI(t, env, "plan", "--plan", plan, "--no-build")
	if err != nil {
		t.Fatalf("plan --no-build: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"not resolved without a build (--no-build)",
		"  layer base: " + dir + "#lib\n",
		"  layer app: " + dir + "#app\n",
		"Nix would build 2 derivations: ",
		"announce-lib-1.0", "announce-app-2.1",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan --no-build output lacks %q:\n%s%s", want, stdout, stderr)
		}
	}
	if strings.Contains(stderr, "building") {
		t.Errorf("plan --no-build built:\n%s", stderr)
	}
	out, err := exec.Command(testutil.RequireTool(t, "nix"), "eval", "--raw", dir+"#packages.x86_64-linux.app.outPath").Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(string(out)); err == nil {
		t.Errorf("plan --no-build realised %s", out)
	}
	jsonOut, stderr, err := runCLI(t, env, "plan", "--plan", plan, "--no-build", "--json")
	var j struct {
		Unbuilt     []struct{ Layer, Dep string }
		Derivations []string
	}
	if err != nil || json.Unmarshal([]byte(jsonOut), &j) != nil || len(j.Unbuilt) != 2 || j.Unbuilt[1].Layer != "app" || len(j.Derivations) != 2 {
		t.Errorf("plan --no-build --json: %v, %+v:\n%s%s", err, j, jsonOut, stderr)
	}
}

// announceFlake writes a flake of two derivations (app depends on lib)
// salted with this run's time, so no store or cache has them.
func announceFlake(t *testing.T) string {
	t.Helper()
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	busybox := testutil.RequireTool(t, "busybox")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	dir := t.TempDir()
	// A salt of this run: the derivations are new, so nothing has them.
	salt := fmt.Sprint(time.Now().UnixNano())
	flake := fmt.Sprintf(`{
  outputs = { self }:
    let
      mk = name: deps: builtins.derivation {
        inherit name deps;
        system = "x86_64-linux";
        builder = "/bin/sh";
        B = "%s";
        args = [ "-c" "$B mkdir -p $out && $B echo %s > $out/salt" ];
      };
    in rec {
      packages.x86_64-linux.lib = mk "announce-lib-1.0" [];
      packages.x86_64-linux.app = mk "announce-app-2.1" [ packages.x86_64-linux.lib ];
    };
}
`, busybox, salt)
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(flake), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
