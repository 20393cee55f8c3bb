package publish

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/regclient"
)

func layerN(t testing.TB, seed int64, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.OCILayer, random.WithSource(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func named(t testing.TB, seeds ...int64) []image.Named {
	t.Helper()
	var out []image.Named
	for _, s := range seeds {
		out = append(out, image.Named{
			Layer: layerN(t, s, 20_000+s*1000),
			Meta: image.LayerMeta{
				Name:  fmt.Sprintf("l%d", s),
				Key:   fmt.Sprintf("sha256:%064x", s),
				Paths: []image.PathSize{{Path: fmt.Sprintf("/nix/store/%032d-p", s), NarSize: s}},
			},
		})
	}
	return out
}

func assemble(t testing.TB, layers []image.Named) v1.Image {
	t.Helper()
	img, err := image.Assemble(nil, layers, image.ConfigOptions{Platform: v1.Platform{Architecture: "amd64"}, Cmd: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func ref(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// blobSizes returns digest → size for every layer and the config.
func blobSizes(t testing.TB, img v1.Image) map[v1.Hash]int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[v1.Hash]int64{m.Config.Digest: m.Config.Size}
	for _, d := range m.Layers {
		out[d.Digest] = d.Size
	}
	return out
}

func wantAll(t *testing.T, res *Result, img v1.Image, status regclient.BlobStatus) {
	t.Helper()
	sizes := blobSizes(t, img)
	if len(res.Status) != len(sizes) {
		t.Errorf("status has %d entries, want %d: %v", len(res.Status), len(sizes), res.Status)
	}
	for h := range sizes {
		if res.Status[h] != status {
			t.Errorf("blob %s status %q, want %q", h, res.Status[h], status)
		}
	}
}

func sumSizes(t testing.TB, img v1.Image) int64 {
	var n int64
	for _, s := range blobSizes(t, img) {
		n += s
	}
	return n
}

func headDigest(t testing.TB, r name.Reference) v1.Hash {
	t.Helper()
	d, err := remote.Head(r)
	if err != nil {
		t.Fatalf("HEAD %s: %v", r, err)
	}
	return d.Digest
}

// failingTransport answers 503 to the first n blob upload POSTs.
type failingTransport struct {
	next http.RoundTripper
	n    atomic.Int32 // failures left
}

func (f *failingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.Contains(req.URL.Path, "/blobs/uploads/") && f.n.Add(-1) >= 0 {
		return &http.Response{
			StatusCode: http.StatusServiceUnavailable,
			Status:     "503 Service Unavailable",
			Body:       io.NopCloser(strings.NewReader("try later")),
			Header:     http.Header{},
			Request:    req,
		}, nil
	}
	return f.next.RoundTrip(req)
}

// client is a registry client for tests.
func client(t testing.TB, opts ...regclient.Option) *regclient.Client {
	t.Helper()
	c, err := regclient.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// push publishes img to r (and tags) through a fresh client built from opts.
func push(t testing.TB, img v1.Image, r name.Reference, tags []string, opts ...regclient.Option) (*Result, error) {
	t.Helper()
	p, err := NewRegistry(client(t, opts...), r, tags)
	if err != nil {
		return nil, err
	}
	return p.Publish(context.Background(), img)
}
