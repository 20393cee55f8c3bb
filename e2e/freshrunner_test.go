package e2e

// Fresh runners (issue 10): the action's container starts with an empty
// Nix store. Everything here runs the CLI inside a fresh, empty store (a
// private mount namespace with an empty /nix) against a real binary cache
// (`nix copy` of the fixture closure, signed, served by nginx) and the real
// registry: a no-change run downloads no NAR, a change downloads only the
// NARs of the layers it rebuilds, and an image built from NAR streams is
// the image built from the realised store, digest for digest.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/binarycache"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// freshFixture is the fixture flake built on the host and its closure in a
// signed binary cache served by nginx.
type freshFixture struct {
	fx      *nixfix.Fixture
	out     map[string]string
	cache   *binarycache.Cache
	nginx   *binarycache.Server
	closure []string
}

func newFreshFixture(t *testing.T, versions map[string]string) *freshFixture {
	t.Helper()
	testutil.Short(t)
	testutil.RequireTool(t, "nginx")
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 3, CudaSize: 2 << 20, Versions: versions})
	out := fx.Build(t)
	var roots []string
	for _, p := range out {
		roots = append(roots, p)
	}
	closure := binarycache.ClosureOf(t, roots...)
	cache := binarycache.NewCache(t, closure, binarycache.CacheOptions{})
	return &freshFixture{fx: fx, out: out, cache: cache, nginx: binarycache.Serve(t, cache.Dir), closure: closure}
}

// plan writes the plan over the fixture's installables.
func (f *freshFixture) plan(t *testing.T) string {
	t.Helper()
	return writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q, %q]
  - name: libs
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
`, f.fx.Ref("busybox"), f.fx.Ref("baseTools"), f.fx.Ref("libshared"), f.fx.Ref("cuda"), f.fx.Ref("torch"),
		f.fx.Ref("pak1"), f.fx.Ref("pak2"), f.fx.Ref("pak3"), f.fx.Ref("app"), f.out["app"]+"/bin/app"))
}

// nixConf is the configuration the fresh store's Nix (and our binary)
// reads: the cache, trusted by its key.
func (f *freshFixture) nixConf(extra ...string) []string {
	return append([]string{"substituters = " + f.nginx.URL, "trusted-public-keys = " + f.cache.Key.Public}, extra...)
}

// freshBuild runs build in a new empty store; it returns the report (nil
// on failure), the output and the cache traffic the run caused. Nothing of
// the closure may be realised into the store.
func (f *freshFixture) freshBuild(t *testing.T, planFile string, args ...string) (*cliReport, binarycache.Result, binarycache.Traffic) {
	return f.freshBuildRealising(t, false, planFile, args...)
}

// freshBuildRealising is freshBuild; with realises, paths may be realised
// (a path no cache has is built, and Nix substitutes its closure).
func (f *freshFixture) freshBuildRealising(t *testing.T, realises bool, planFile string, args ...string) (*cliReport, binarycache.Result, binarycache.Traffic) {
	t.Helper()
	store := binarycache.NewFreshStore(t)
	before := binarycache.Summarize(f.nginx.Requests(t))
	rep := filepath.Join(t.TempDir(), "report.json")
	argv := append([]string{buildBinary(t), "build", "--plan", planFile, "--temp-dir", t.TempDir(), "--report", rep}, args...)
	res := store.Run(t, f.nixConf(), argv...)
	after := binarycache.Summarize(f.nginx.Requests(t))
	tr := binarycache.Traffic{NarinfoRequests: after.NarinfoRequests - before.NarinfoRequests, NARRequests: after.NARRequests - before.NARRequests,
		NarinfoBytes: after.NarinfoBytes - before.NarinfoBytes, NARBytes: after.NARBytes - before.NARBytes}
	var r *cliReport
	if res.Err == nil {
		r = readReport(t, rep)
	}
	// Nothing of the closure was realised into the fresh store.
	for _, p := range store.StorePaths(t) {
		if realises {
			break
		}
		for _, c := range f.closure {
			if p == c && !strings.HasSuffix(p, ".drv") {
				t.Errorf("%s was realised into the fresh store", p)
			}
		}
	}
	return r, res, tr
}

// narFileBytes is what the cache stores for paths (compressed NAR files).
func (f *freshFixture) narFileBytes(t *testing.T, paths []string) int64 {
	t.Helper()
	var n int64
	for _, p := range paths {
		info, err := os.Stat(f.cache.NARFile(t, p))
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

func TestFreshRunnerPaysOnlyForWhatChanged(t *testing.T) {
	f := newFreshFixture(t, nil)
	reg := registry.Start(t, registry.Options{})
	planFile := f.plan(t)
	honest, _, _ := expectedImage(t, planFile) // from the host's realised store

	// Cold: every layer is built from NAR streams, each NAR fetched once,
	// and the image is the one the realised store gives.
	cold, res, tr := f.freshBuild(t, planFile, "--image", reg.Ref("fresh/app:latest"))
	if res.Err != nil {
		t.Fatalf("cold fresh build: %v\n%s", res.Err, res.Stderr)
	}
	if cold.Digest != honest {
		t.Errorf("image from NAR streams %s, from the realised store %s", cold.Digest, honest)
	}
	if want := f.narFileBytes(t, f.closure); tr.NARBytes != want {
		t.Errorf("cold: downloaded %d NAR bytes, the closure's NAR files are %d", tr.NARBytes, want)
	}
	for _, l := range cold.Layers {
		if l.Source != "" && l.Source != "substituter" {
			t.Errorf("cold: layer %s source %q, want substituter", l.Name, l.Source)
		}
	}
	t.Logf("FIGURE fresh cold: %s", tr)

	// No change: metadata only.
	again, res, tr := f.freshBuild(t, planFile, "--image", reg.Ref("fresh/app:latest"))
	if res.Err != nil {
		t.Fatalf("no-change fresh build: %v\n%s", res.Err, res.Stderr)
	}
	if tr.NARBytes != 0 || tr.NARRequests != 0 || again.BytesPushed != 0 || again.Digest != cold.Digest {
		t.Errorf("no change: %d NAR bytes in %d requests, %d bytes pushed, digest %s (was %s)", tr.NARBytes, tr.NARRequests, again.BytesPushed, again.Digest, cold.Digest)
	}
	t.Logf("FIGURE fresh no-change: %s", tr)

	// One layer changes (a new app): only its NARs are fetched.
	g := newFreshFixture(t, map[string]string{"app": "1.1-fresh"})
	changed, res, tr := g.freshBuild(t, g.plan(t), "--image", reg.Ref("fresh/app:latest"))
	if res.Err != nil {
		t.Fatalf("one-change fresh build: %v\n%s", res.Err, res.Stderr)
	}
	var rebuilt []string
	for _, l := range changed.Layers {
		if l.Status == "pushed" {
			rebuilt = append(rebuilt, l.Paths...)
		}
	}
	if len(rebuilt) != 1 || rebuilt[0] != g.out["app"] {
		t.Errorf("rebuilt paths %v, want only the new app %s", rebuilt, g.out["app"])
	}
	if want := g.narFileBytes(t, rebuilt); tr.NARBytes != want {
		t.Errorf("one change: downloaded %d NAR bytes, the rebuilt layer's NAR files are %d", tr.NARBytes, want)
	}
	t.Logf("FIGURE fresh one-change: %s", tr)
	pullVerify(t, reg, "fresh/app:latest")
}

// A corrupted NAR, an unsigned narinfo and a path no cache has, each from
// an empty store and an empty registry.
func TestFreshRunnerBadCaches(t *testing.T) {
	f := newFreshFixture(t, nil)
	reg := registry.Start(t, registry.Options{})
	planFile := f.plan(t)

	t.Run("corrupted NAR", func(t *testing.T) {
		f.cache.CorruptNAR(t, f.out["torch"])
		defer f.restore(t)
		_, res, _ := f.freshBuild(t, planFile, "--image", reg.Ref("bad/nar:latest"))
		if res.Err == nil {
			t.Fatal("a corrupted NAR was accepted")
		}
		if msg := res.Stderr; !strings.Contains(msg, f.out["torch"]) || !strings.Contains(msg, "NAR") {
			t.Errorf("the error does not name the path and its NAR:\n%s", msg)
		}
		if d := tagDigest(t, reg, "bad/nar", "latest"); d != "" {
			t.Errorf("tag written: %s", d)
		}
	})
	t.Run("unsigned narinfo", func(t *testing.T) {
		f.cache.StripSignatures(t, f.out["cuda"])
		defer f.restore(t)
		_, res, _ := f.freshBuild(t, planFile, "--image", reg.Ref("bad/sig:latest"))
		if res.Err == nil {
			t.Fatal("an unsigned narinfo was accepted")
		}
		if !strings.Contains(res.Stderr, f.out["cuda"]) || !strings.Contains(res.Stderr, f.nginx.URL) {
			t.Errorf("the error does not name the path and the cache:\n%s", res.Stderr)
		}
	})
	t.Run("path missing from the cache is built", func(t *testing.T) {
		f.cache.DeleteNarinfo(t, f.out["app"])
		defer f.restore(t)
		r, res, _ := f.freshBuildRealising(t, true, planFile, "--image", reg.Ref("bad/missing:latest"))
		if res.Err != nil {
			t.Fatalf("build with a path the cache lacks: %v\n%s", res.Err, res.Stderr)
		}
		if s := r.Layers[r.layer(t, "app")].Source; s != "built" {
			t.Errorf("app layer source %q, want built", s)
		}
	})
}

// A cache that is down fails the run at once, naming the cache: falling
// back to building everything could take hours and would hide the outage.
func TestFreshRunnerCacheDown(t *testing.T) {
	f := newFreshFixture(t, nil)
	planFile := f.plan(t)
	store := binarycache.NewFreshStore(t)
	const down = "http://127.0.0.1:9" // discard port: nothing listens
	res := store.Run(t, []string{"substituters = " + down, "trusted-public-keys = " + f.cache.Key.Public},
		buildBinary(t), "build", "--plan", planFile, "--output", "oci:"+filepath.Join(t.TempDir(), "o"), "--temp-dir", t.TempDir())
	if res.Err == nil {
		t.Fatal("a build with the only cache down succeeded")
	}
	if !strings.Contains(res.Stderr, "127.0.0.1:9") {
		t.Errorf("the error does not name the cache:\n%s", res.Stderr)
	}
}

// restore rebuilds the cache files a subtest damaged.
func (f *freshFixture) restore(t *testing.T) {
	t.Helper()
	fresh := binarycache.NewCache(t, f.closure, binarycache.CacheOptions{Key: &f.cache.Key})
	if err := os.RemoveAll(f.cache.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(f.cache.Dir, os.DirFS(fresh.Dir)); err != nil {
		t.Fatal(err)
	}
}

// A root: dep the fresh store lacks is read from its own NAR, not realised
// (realising it would fetch its whole closure): the image is the one the
// realised store gives, and a no-change run fetches that one small NAR
// and nothing else; a cold run fetches every NAR once.
func TestFreshRunnerRootFromItsOwnNAR(t *testing.T) {
	f := newFreshFixture(t, nil)
	reg := registry.Start(t, registry.Options{})
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: base
    deps: [%q]
  - name: libs
    deps: [%q, %q]
  - name: app
    deps: [%q]
root: [%q]
config:
  entrypoint: [%q]
`, f.fx.Ref("busybox"), f.fx.Ref("libshared"), f.fx.Ref("cuda"), f.fx.Ref("app"), f.fx.Ref("baseTools"), f.out["app"]+"/bin/app"))
	honest, _, _ := expectedImage(t, planFile) // from the host's realised store
	ref := reg.Ref("fresh/root:latest")
	tools := f.narFileBytes(t, []string{f.out["baseTools"]})

	cold, res, tr := f.freshBuild(t, planFile, "--image", ref)
	if res.Err != nil {
		t.Fatalf("cold fresh build: %v\n%s", res.Err, res.Stderr)
	}
	if cold.Digest != honest {
		t.Errorf("image with root: read from its NAR %s, from the realised store %s", cold.Digest, honest)
	}
	// Every NAR of the image once: the root dep's, read for its files, is
	// not fetched again for its store path's layer.
	var inImage []string
	for _, l := range cold.Layers {
		inImage = append(inImage, l.Paths...)
	}
	if want := f.narFileBytes(t, inImage); tr.NARBytes != want || tr.NARRequests != len(inImage) {
		t.Errorf("cold: downloaded %d NAR bytes in %d requests, want the image's %d NAR files once: %d bytes", tr.NARBytes, tr.NARRequests, len(inImage), want)
	}
	t.Logf("FIGURE fresh cold with root: %s", tr)

	again, res, tr := f.freshBuild(t, planFile, "--image", ref)
	if res.Err != nil {
		t.Fatalf("no-change fresh build: %v\n%s", res.Err, res.Stderr)
	}
	if tr.NARRequests != 1 || tr.NARBytes != tools || again.BytesPushed != 0 || again.Digest != cold.Digest {
		t.Errorf("no change: %d NAR bytes in %d requests (want the root dep's %d in 1), %d bytes pushed, digest %s (was %s)",
			tr.NARBytes, tr.NARRequests, tools, again.BytesPushed, again.Digest, cold.Digest)
	}
	t.Logf("FIGURE fresh no-change with root: %s", tr)
	pullVerify(t, reg, "fresh/root:latest")
}
