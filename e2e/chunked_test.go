package e2e

// zstd:chunked (issue 21) with the real clients: podman with partial
// pulls enabled (its own store in a temp dir) pulls the image from the
// real docker-registry and runs it, the store paths in its image equal
// the Nix store's bytes, manifest and config pass the OCI schemas,
// skopeo copies it (checking every digest), and
// after a one-package change a second pull fetches, by the registry's own
// access log, only the changed package's files out of the changed layer.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/ocischema"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// chunkedPlan puts the whole closure, busybox (most of its bytes) and the
// package that will change (pak1, and app, which lists it) into one
// layer, so that a change of pak1 is a new layer most of whose bytes the
// node already holds.
func chunkedPlan(t *testing.T, fx *nixfix.Fixture, out map[string]string) string {
	plan := fmt.Sprintf(`version: 1
layers:
  - name: all
    deps: [%q, %q, %q, %q, %q, %q, %q]
config:
  entrypoint: [%q]
  env: ["PATH=%s/bin"]
`, fx.Ref("baseTools"), fx.Ref("cuda"), fx.Ref("torch"), fx.Ref("pak1"), fx.Ref("pak2"), fx.Ref("pak3"), fx.Ref("app"),
		out["app"]+"/bin/app", out["busybox"])
	f := filepath.Join(t.TempDir(), "nix-layers.yaml")
	if err := os.WriteFile(f, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// partialPodman is podman with its own store (overlay) and partial pulls
// enabled; it returns a function running podman with that store.
func partialPodman(t *testing.T) func(args ...string) (string, error) {
	podman := testutil.RequireTool(t, "podman")
	dir := t.TempDir()
	conf := filepath.Join(dir, "storage.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
[storage.options]
pull_options = {enable_partial_images = "true", use_hard_links = "false", ostree_repos = ""}
`, filepath.Join(dir, "graph"), filepath.Join(dir, "run"))), 0o644); err != nil {
		t.Fatal(err)
	}
	runPodman := func(args ...string) (string, error) {
		cmd := exec.Command(podman, append([]string{"--runtime", "runc", "--log-level", "debug"}, args...)...)
		cmd.Env = append(os.Environ(), "CONTAINERS_STORAGE_CONF="+conf)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return stdout.String(), fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 30))
		}
		return stdout.String() + "\n" + stderr.String(), nil
	}
	t.Cleanup(func() {
		runPodman("image", "unmount", "--all")
		runPodman("system", "reset", "--force")
	})
	return runPodman
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// accessLogLine is one request of docker-registry's access log (combined
// log format): method, path, status and response bytes.
var accessLogLine = regexp.MustCompile(`"(GET|HEAD) (/v2/[^ ]+) HTTP/[0-9.]+" (\d+) (\d+)`)

// blobBytes sums the response bytes of blob GETs in the registry's access
// log from offset on, and returns the log's size (the next offset).
func blobBytes(t *testing.T, reg *registry.Registry, from int64) (total int64, ranged int, end int64) {
	t.Helper()
	data, err := os.ReadFile(reg.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data[from:]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := accessLogLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] != "GET" || !strings.Contains(m[2], "/blobs/sha256:") {
			continue
		}
		n, _ := strconv.ParseInt(m[4], 10, 64)
		total += n
		if m[3] == "206" {
			ranged++
		}
	}
	return total, ranged, int64(len(data))
}

// sameTree checks that every file, symlink and directory under the store
// path p in the mounted image root equals the Nix store's.
func sameTree(t *testing.T, root, p string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		in := filepath.Join(root, path)
		fi, err := os.Lstat(in)
		if err != nil {
			return fmt.Errorf("image lacks %s: %w", path, err)
		}
		want, _ := d.Info()
		if fi.Mode().Type() != want.Mode().Type() || fi.Mode().Perm() != want.Mode().Perm() {
			return fmt.Errorf("%s: mode %v in the image, %v in the store", path, fi.Mode(), want.Mode())
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			a, _ := os.Readlink(path)
			b, _ := os.Readlink(in)
			if a != b {
				return fmt.Errorf("%s: link %q in the image, %q in the store", path, b, a)
			}
		case d.Type().IsRegular():
			a, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(in)
			if err != nil || !bytes.Equal(a, b) {
				return fmt.Errorf("%s: contents differ from the store's (%v)", path, err)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Errorf("store path %s (%d entries): %v", p, n, err)
	}
}

func TestE2EZstdChunkedPartialPull(t *testing.T) {
	testutil.Short(t)
	opts := nixfix.Options{Packages: 3, CudaSize: 4 << 20}
	testutil.RequireTool(t, "nix")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	fx1 := nixfix.Flake(t, t.TempDir(), opts)
	out1 := fx1.Build(t)
	plan1 := chunkedPlan(t, fx1, out1)
	opts.Versions = map[string]string{"pak1": "1.0.1"}
	fx2 := nixfix.Flake(t, t.TempDir(), opts)
	out2 := fx2.Build(t)
	plan2 := chunkedPlan(t, fx2, out2)
	if out1["pak1"] == out2["pak1"] || out1["cuda"] != out2["cuda"] {
		t.Fatalf("fixture: pak1 %s → %s, cuda %s → %s", out1["pak1"], out2["pak1"], out1["cuda"], out2["cuda"])
	}

	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("e2e/chunked:latest")
	dir := t.TempDir()
	build := func(name, plan string) *cliReport {
		t.Helper()
		rep := filepath.Join(dir, name+".json")
		if _, stderr, err := runCLI(t, nil, "build", "--plan", plan, "--image", ref, "--report", rep, "--compression", "zstd:chunked"); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		return readReport(t, rep)
	}
	r1 := build("v1", plan1)
	// Reuse by key and diff work as in zstd: a rerun pushes nothing, and
	// diff in zstd:chunked sees nothing to rebuild (in zstd, everything).
	if again := build("v1-again", plan1); again.Digest != r1.Digest || again.BytesPushed != 0 {
		t.Errorf("rerun: digest %s (want %s), %d bytes pushed", again.Digest, r1.Digest, again.BytesPushed)
	}
	for _, c := range []struct{ compression, want string }{{"zstd:chunked", "**0 of 1 layer"}, {"zstd", "**1 of 1 layer"}} {
		stdout, stderr, err := runCLI(t, nil, "diff", "--plan", plan1, "--against", ref, "--compression", c.compression)
		if err != nil || !strings.Contains(stdout, c.want) {
			t.Errorf("diff --compression %s: %v, want %q in:\n%s%s", c.compression, err, c.want, stdout, stderr)
		}
	}
	skopeo := testutil.RequireTool(t, "skopeo")
	raw := run(t, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+ref)
	var m struct {
		Layers []struct {
			MediaType   string            `json:"mediaType"`
			Size        int64             `json:"size"`
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest: %v\n%s", err, raw)
	}
	// Manifest and config pass the OCI image-spec's schemas.
	if err := ocischema.Validate(t, ocischema.Manifest, []byte(raw)); err != nil {
		t.Errorf("manifest fails the OCI schema: %v\n%s", err, raw)
	}
	cfg := run(t, skopeo, "inspect", "--raw", "--config", "--tls-verify=false", "docker://"+ref)
	if err := ocischema.Validate(t, ocischema.Config, []byte(cfg)); err != nil {
		t.Errorf("config fails the OCI schema: %v\n%s", err, cfg)
	}
	for i, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" || l.Annotations["io.containers.zstd-chunked.manifest-checksum"] == "" || l.Annotations["io.containers.zstd-chunked.manifest-position"] == "" {
			t.Errorf("layer %d: %s %v", i, l.MediaType, l.Annotations)
		}
	}
	// skopeo reads it as zstd, checking every blob's digest.
	run(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(dir, "oci")+":x")

	podman := partialPodman(t)
	_, _, mark := blobBytes(t, reg, 0)
	if _, err := podman("pull", "--tls-verify=false", ref); err != nil {
		t.Fatal(err)
	}
	first, _, mark2 := blobBytes(t, reg, mark)
	got, err := podman("run", "--rm", ref)
	if err != nil || !strings.Contains(got, "hello from app") {
		t.Fatalf("podman run: %v\n%s", err, lastLines(got, 20))
	}
	mnt, err := podman("image", "mount", ref)
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(strings.Split(mnt, "\n")[0])
	for _, p := range out1 {
		if p != "" && strings.HasPrefix(p, "/nix/store/") {
			sameTree(t, root, p)
		}
	}
	podman("image", "unmount", ref)

	// One package changes: the second pull fetches the table of contents
	// and the new files, not the layer.
	r2 := build("v2", plan2)
	var changed int64
	for i, l := range r2.Layers {
		if l.Digest != r1.Layers[i].Digest {
			changed += l.Size
		}
	}
	if _, err := podman("pull", "--tls-verify=false", ref); err != nil {
		t.Fatal(err)
	}
	second, ranged, _ := blobBytes(t, reg, mark2)
	for i, l := range r2.Layers {
		t.Logf("layer %s: %s %d bytes → %s %d bytes", l.Name, r1.Layers[i].Digest, r1.Layers[i].Size, l.Digest, l.Size)
	}
	t.Logf("first pull: %d blob bytes; second pull after a one-package change: %d blob bytes in %d range requests; changed layers: %d bytes compressed", first, second, ranged, changed)
	if changed == 0 || ranged == 0 || second*10 > changed {
		t.Errorf("second pull fetched %d blob bytes (%d range requests), want under a tenth of the changed layers' %d bytes", second, ranged, changed)
	}
	got, err = podman("run", "--rm", ref)
	if err != nil || !strings.Contains(got, "hello from app") {
		t.Fatalf("podman run v2: %v\n%s", err, lastLines(got, 20))
	}
	mnt, err = podman("image", "mount", ref)
	if err != nil {
		t.Fatal(err)
	}
	root = strings.TrimSpace(strings.Split(mnt, "\n")[0])
	for _, p := range out2 {
		if p != "" && strings.HasPrefix(p, "/nix/store/") {
			sameTree(t, root, p)
		}
	}
}

// tocBytes sums the compressed sizes of the tables of contents of ref's
// layers, from their descriptors' position annotations.
func tocBytes(t *testing.T, ref string) int64 {
	t.Helper()
	raw := run(t, testutil.RequireTool(t, "skopeo"), "inspect", "--raw", "--tls-verify=false", "docker://"+ref)
	var m struct {
		Layers []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, l := range m.Layers {
		var off, n, u, typ int64
		if _, err := fmt.Sscanf(l.Annotations["io.containers.zstd-chunked.manifest-position"], "%d:%d:%d:%d", &off, &n, &u, &typ); err == nil {
			total += n
		}
	}
	return total
}

// addStorePath writes files (relative path → contents, mode 0444 or
// 0555) into a directory named name and adds it to the Nix store.
func addStorePath(t *testing.T, name string, files map[string][]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for p, data := range files {
		mode := os.FileMode(0o444)
		if strings.HasPrefix(p, "bin/") {
			mode = 0o555
		}
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	return strings.TrimSpace(run(t, testutil.RequireTool(t, "nix-store"), "--add", dir))
}

// bumpTrees is a real software tree at version v, as a nixpkgs bump
// changes it: two store paths (an app and a library it references); from
// one version to the next every store path changes, the library's path is
// written anew into the app's binaries and script, and every other byte
// stays.
func bumpTrees(t *testing.T, v int) []string {
	t.Helper()
	goroot := runtime.GOROOT()
	read := func(p string) []byte {
		data, err := os.ReadFile(filepath.Join(goroot, p))
		if err != nil {
			t.Skipf("bump fixture needs the Go toolchain's files: %v", err)
		}
		return data
	}
	lib := addStorePath(t, "libdep", map[string][]byte{
		"version":     []byte(fmt.Sprintf("libdep %d\n", v)),
		"lib/libdep":  read("pkg/tool/" + runtime.GOOS + "_" + runtime.GOARCH + "/cover"),
		"share/notes": []byte("unchanged\n"),
	})
	app := map[string][]byte{"bin/wrapper": []byte("#!/bin/sh\nexec " + lib + "/lib/libdep \"$@\"\n")}
	for _, tool := range []string{"link", "vet"} {
		bin := read("pkg/tool/" + runtime.GOOS + "_" + runtime.GOARCH + "/" + tool)
		// An RPATH-like reference, rewritten in place (same length).
		for _, at := range []int{len(bin) / 7, len(bin) / 2, len(bin) - 4096} {
			copy(bin[at:], lib)
		}
		app["bin/"+tool] = bin
	}
	err := filepath.WalkDir(filepath.Join(goroot, "src/net"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(goroot, p)
		app["share/"+rel] = read(rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return []string{lib, addStorePath(t, "app", app)}
}

// The headline of issue 21, measured: a node holding yesterday's image
// pulls today's after a rebuild in which every store path changed (new
// names, store paths written into binaries rewritten, every other byte
// the same). By the registry's access log, it fetches a small part of
// the new image's compressed layer bytes, where a gzip or zstd image
// would be pulled whole; and the image it gets equals the store.
func TestE2EZstdChunkedBump(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	v1, v2 := bumpTrees(t, 1), bumpTrees(t, 2)
	for i := range v1 {
		if v1[i] == v2[i] {
			t.Fatalf("store path %s did not change", v1[i])
		}
	}
	plan := func(paths []string) string {
		f := filepath.Join(t.TempDir(), "nix-layers.yaml")
		body := fmt.Sprintf("version: 1\nlayers:\n  - name: lib\n    deps: [%q]\n  - name: app\n    deps: [%q]\n", paths[0], paths[1])
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("e2e/bump:latest")
	dir := t.TempDir()
	build := func(name, planFile string) *cliReport {
		t.Helper()
		rep := filepath.Join(dir, name+".json")
		if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", rep, "--compression", "zstd:chunked"); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		return readReport(t, rep)
	}
	build("v1", plan(v1))
	podman := partialPodman(t)
	_, _, mark := blobBytes(t, reg, 0)
	if _, err := podman("pull", "--tls-verify=false", ref); err != nil {
		t.Fatal(err)
	}
	first, _, mark := blobBytes(t, reg, mark)
	r2 := build("v2", plan(v2))
	var total int64
	for _, l := range r2.Layers {
		total += l.Size
	}
	if _, err := podman("pull", "--tls-verify=false", ref); err != nil {
		t.Fatal(err)
	}
	second, ranged, _ := blobBytes(t, reg, mark)
	pct := 100 * float64(second) / float64(total)
	toc := tocBytes(t, ref)
	t.Logf("bump: first pull %d blob bytes; second pull %d of the new image's %d compressed layer bytes (%.2f %%) in %d range requests, of which %d the tables of contents", first, second, total, pct, ranged, toc)
	// Of a 10 MB image, the tables of contents alone are about 1 %; the
	// issue's goal of 2 % is for images of gigabytes, where they weigh
	// less. Pulled as gzip or zstd, the image would be fetched whole.
	if ranged == 0 || pct > 4 {
		t.Errorf("second pull fetched %d bytes, %.2f %% of %d (want at most 4 %% of an image this small)", second, pct, total)
	}
	mnt, err := podman("image", "mount", ref)
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(strings.Split(mnt, "\n")[0])
	for _, p := range v2 {
		sameTree(t, root, p)
	}
}
