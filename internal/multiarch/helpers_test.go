package multiarch

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// recorder is an http.RoundTripper that notes "METHOD /path" of every
// request before passing it on.
type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

func (r *recorder) count(method string) int {
	n := 0
	for _, q := range r.requests() {
		if strings.HasPrefix(q, method+" ") {
			n++
		}
	}
	return n
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

// testRepo starts a real registry and returns a repository in it.
func testRepo(t *testing.T, path string) (*registry.Registry, name.Repository) {
	t.Helper()
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	repo, err := name.NewRepository(reg.Ref(path))
	if err != nil {
		t.Fatal(err)
	}
	return reg, repo
}

// tarLayer is a small real tar layer holding one file with content.
func tarLayer(t *testing.T, content string) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "platform.txt", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// platformImage is a one-layer OCI image whose config names plat
// ("os/arch[/variant]", or "" for none), with manifest annotations.
func platformImage(t *testing.T, plat, content string, annots map[string]string) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{Layer: tarLayer(t, content)})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	if plat != "" {
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			t.Fatal(err)
		}
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if annots != nil {
		img = mutate.Annotations(img, annots).(v1.Image)
	}
	return img
}

// pushByDigest pushes img to repo without any tag, as a matrix job does,
// and returns its digest.
func pushByDigest(t *testing.T, repo name.Repository, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(d.String()), img, remote.WithContext(context.Background())); err != nil {
		t.Fatalf("push %s: %v", d, err)
	}
	return d
}

// layerDigests lists the layer digests of imgs.
func layerDigests(t *testing.T, imgs ...v1.Image) []string {
	t.Helper()
	var out []string
	for _, img := range imgs {
		ls, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			d, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d.String())
		}
	}
	return out
}

func skopeo(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := testutil.RequireTool(t, "skopeo")
	cmd := exec.Command(bin, append([]string{"--insecure-policy"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// skopeoRaw returns the manifest skopeo reads at ref and its digest.
func skopeoRaw(t *testing.T, ref string) ([]byte, v1.Hash) {
	t.Helper()
	raw := skopeo(t, "inspect", "--tls-verify=false", "--raw", "docker://"+ref)
	sum := sha256.Sum256(raw)
	return raw, v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// skopeoInspect is what `skopeo inspect` says about the image it resolves
// ref to for os/arch. Digest is that of the manifest at ref (the index,
// for a multi-arch ref); Architecture, Os and Layers are the resolved
// child's.
type skopeoInspect struct {
	Digest       string
	Architecture string
	Os           string
	Layers       []string
}

func skopeoResolve(t *testing.T, ref, os, arch string) skopeoInspect {
	t.Helper()
	out := skopeo(t, "--override-os", os, "--override-arch", arch, "inspect", "--tls-verify=false", "docker://"+ref)
	var si skopeoInspect
	if err := json.Unmarshal(out, &si); err != nil {
		t.Fatalf("skopeo inspect output %q: %v", out, err)
	}
	return si
}
