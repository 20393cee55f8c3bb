package e2e

// Hostile and broken input (issue 5): previous images that lie, hostile
// store content, plans reaching outside the workspace.

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// TestReliabilityLyingPrevious pushes, with go-containerregistry directly, a
// previous image whose one layer carries the key our plan computes for its
// "mid" layer, over a blob with other content.
func TestReliabilityLyingPrevious(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "skopeo")
	reg := registry.Start(t, registry.Options{})
	planFile := synthPlan(t, t.TempDir(), stackPkgs(3, 128<<10), "")
	want, _, exp := expectedImage(t, planFile)
	mid := exp.Layers[exp.layer(t, "mid")]

	liar := func(t *testing.T, repo string, paths []string) v1.Hash {
		t.Helper()
		l, err := random.Layer(64<<10, types.OCILayer, random.WithSource(rand.NewSource(99)))
		if err != nil {
			t.Fatal(err)
		}
		// Recorded digest, size and diffID agree with the blob: the liar is
		// self-consistent, as one written by this tool would be.
		ld, _ := l.Digest()
		ldiff, _ := l.DiffID()
		lsize, _ := l.Size()
		meta := image.LayerMeta{Name: "mid", Key: mid.Key, Digest: ld.String(), Size: lsize, DiffID: ldiff.String()}
		for _, p := range paths {
			meta.Paths = append(meta.Paths, image.PathSize{Path: p, NarSize: 1})
		}
		img, err := image.Assemble(nil, []image.Named{{Layer: l, Meta: meta}}, image.ConfigOptions{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(reg.Ref(repo + ":latest"))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		d, _ := l.Digest()
		return d
	}
	build := func(t *testing.T, repo string) (*cliReport, string) {
		t.Helper()
		rep := filepath.Join(t.TempDir(), "r.json")
		_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", reg.Ref(repo+":latest"), "--temp-dir", t.TempDir(), "--report", rep)
		if err != nil {
			t.Fatalf("build over a lying previous image: %v\n%s", err, stderr)
		}
		return readReport(t, rep), stderr
	}

	t.Run("recorded paths disagree", func(t *testing.T) {
		const repo = "rel/liar-paths"
		liar(t, repo, []string{"/nix/store/00000000000000000000000000000000-other"})
		r, stderr := build(t, repo)
		if s := r.Layers[r.layer(t, "mid")].Status; s != "pushed" {
			t.Errorf("mid layer status %q: the lying layer was reused", s)
		}
		if r.Digest != want {
			t.Errorf("image %s, want the honest %s", r.Digest, want)
		}
		if strings.Contains(stderr, "not reproducible") {
			t.Errorf("false non-reproducibility warning for a previous layer of other paths:\n%s", stderr)
		}
		if got := pullVerify(t, reg, repo+":latest"); got != want {
			t.Errorf("pulled %s, want %s", got, want)
		}
	})

	t.Run("blob missing", func(t *testing.T) {
		const repo = "rel/liar-gone"
		d := liar(t, repo, mid.Paths)
		req, _ := http.NewRequest(http.MethodDelete, reg.URL()+"/v2/"+repo+"/blobs/"+d.String(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("DELETE blob = %d", resp.StatusCode)
		}
		r, _ := build(t, repo)
		if s := r.Layers[r.layer(t, "mid")].Status; s != "pushed" {
			t.Errorf("mid layer status %q: a layer whose blob is gone was reused", s)
		}
		if r.Digest != want {
			t.Errorf("image %s, want %s", r.Digest, want)
		}
		if got := pullVerify(t, reg, repo+":latest"); got != want {
			t.Errorf("pulled %s, want %s", got, want)
		}
	})

	// The documented limit (docs/reliability.md): same key, same recorded
	// paths, blob present, other bytes. Nothing short of downloading the
	// blob can tell; whoever can push such an image to the target
	// repository can also move its tag. What we guarantee: the result is
	// still a complete, self-consistent image (blob and config agree), and
	// no false warning is printed.
	t.Run("same paths, other bytes (undetectable without download)", func(t *testing.T) {
		const repo = "rel/liar-bytes"
		d := liar(t, repo, mid.Paths)
		r, stderr := build(t, repo)
		l := r.Layers[r.layer(t, "mid")]
		if l.Status != "cached" || l.Digest != d.String() {
			t.Fatalf("mid layer %s %s: the documented limit changed (update docs/reliability.md)", l.Status, l.Digest)
		}
		if strings.Contains(stderr, "not reproducible") {
			t.Errorf("warning printed without a rebuild:\n%s", stderr)
		}
		pullVerify(t, reg, repo+":latest")
	})
}

// TestReliabilityHostileStore builds, through the CLI, a store path holding
// a symlink out of the store, file names with a newline and invalid UTF-8,
// a 200-byte name and a setuid file; then a FIFO, which is refused.
func TestReliabilityHostileStore(t *testing.T) {
	dir := t.TempDir()
	pkg := synthPkg{Name: "hostile", Seed: 1, Size: 10}
	sp := pkg.storePath()
	planFile := synthPlan(t, dir, []synthPkg{pkg}, "")
	host := filepath.Join(dir, "store", sp)
	long := strings.Repeat("l", 200)
	names := map[string]string{ // in-image name → kind
		sp + "/bin/escape":         "symlink",
		sp + "/share/new\nline":    "file",
		sp + "/share/bad-\xff\xfe": "file",
		sp + "/share/" + long:      "file",
		sp + "/bin/suid":           "setuid",
	}
	mkdir(t, filepath.Join(host, "bin"))
	if err := os.Symlink("/etc/passwd", filepath.Join(host, "bin", "escape")); err != nil {
		t.Fatal(err)
	}
	for n, k := range names {
		if k == "file" || k == "setuid" {
			if err := os.WriteFile(filepath.Join(dir, "store", n), []byte("x"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chmod(filepath.Join(host, "bin", "suid"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	rewriteGraph(t, dir, sp)

	lay := filepath.Join(t.TempDir(), "oci")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--output", "oci:"+lay, "--temp-dir", t.TempDir()); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	hdrs := layoutEntries(t, lay)
	for n, k := range names {
		h, ok := hdrs[n]
		if !ok {
			t.Errorf("layer lacks %q", n)
			continue
		}
		switch k {
		case "symlink":
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc/passwd" {
				t.Errorf("%s: type %c link %q, want a symlink to /etc/passwd kept as is", n, h.Typeflag, h.Linkname)
			}
		case "setuid":
			if h.Mode&04000 == 0 {
				t.Errorf("%s: mode %o lost the setuid bit", n, h.Mode)
			}
		}
	}
	if _, ok := hdrs["/etc/passwd"]; ok {
		t.Error("the symlink was followed: /etc/passwd is in the layer")
	}

	// A FIFO is refused with an error naming it.
	if err := syscall.Mkfifo(filepath.Join(host, "share", "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, nil, "build", "--plan", planFile, "--output", "oci:"+filepath.Join(t.TempDir(), "o2"), "--temp-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), sp+"/share/pipe") {
		t.Fatalf("FIFO in the store: error %v, want one naming %s/share/pipe", err, sp)
	}
}

// rewriteGraph recomputes the NAR hash of the one store path in dir's
// closure.json after its tree was changed.
func rewriteGraph(t *testing.T, dir, sp string) {
	t.Helper()
	nar, err := nixfix.Nar(filepath.Join(dir, "store", sp))
	if err != nil {
		t.Fatal(err)
	}
	g := fmt.Sprintf(`[{"path":%q,"narHash":%q,"narSize":%d,"references":[]}]`, sp, nar.Base32, nar.Size)
	if err := os.WriteFile(filepath.Join(dir, "closure.json"), []byte(g), 0o644); err != nil {
		t.Fatal(err)
	}
}

// layoutEntries reads every layer of the single image in an OCI layout and
// returns its tar headers by absolute path.
func layoutEntries(t *testing.T, dir string) map[string]*tar.Header {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("layout index: %v %v", im, err)
	}
	img, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tar.Header{}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(rc)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out["/"+strings.TrimPrefix(strings.TrimSuffix(h.Name, "/"), "/")] = h
		}
		rc.Close()
	}
	return out
}

// TestReliabilityOutsideWorkspace: a flake ref escaping the plan directory
// with ".." is refused before any work unless the plan says
// allow-outside-workspace: true, and then it builds.
func TestReliabilityOutsideWorkspace(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	parent := t.TempDir()
	nixfix.Flake(t, parent, nixfix.Options{Packages: 1})
	sub := filepath.Join(parent, "sub")
	mkdir(t, sub)
	planFile := filepath.Join(sub, "nix-layers.yaml")
	body := "layers:\n  - name: base\n    deps: [\"..#baseTools\"]\n"

	os.WriteFile(planFile, []byte("version: 1\n"+body), 0o644)
	_, _, err := runCLI(t, nil, "build", "--plan", planFile, "--push=false", "--nix", "/nonexistent/nix-must-not-run")
	if err == nil || !strings.Contains(err.Error(), "allow-outside-workspace: true") || !strings.Contains(err.Error(), "nix-layers.yaml:4") {
		t.Fatalf("'..' flake ref without allow-outside-workspace: error %v, want one naming file:line and the opt-in", err)
	}

	os.WriteFile(planFile, []byte("version: 1\nallow-outside-workspace: true\n"+body), 0o644)
	rep := filepath.Join(t.TempDir(), "r.json")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--output", "oci:"+filepath.Join(t.TempDir(), "oci"), "--report", rep, "--temp-dir", t.TempDir()); err != nil {
		t.Fatalf("with allow-outside-workspace: %v\n%s", err, stderr)
	}
	if r := readReport(t, rep); len(r.Layers) == 0 || len(r.Layers[r.layer(t, "base")].Paths) == 0 {
		t.Fatalf("the outside flake's closure is not in the image: %+v", r.Layers)
	}
}
