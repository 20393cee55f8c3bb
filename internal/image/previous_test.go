package image

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

func mustRef(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func push(t testing.TB, ref name.Reference, img v1.Image) {
	t.Helper()
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// checkRoundTrip asserts LoadPrevious reads back what Assemble wrote.
func checkRoundTrip(t *testing.T, prev *Previous, img v1.Image, layers []Named) {
	t.Helper()
	if prev == nil {
		t.Fatal("LoadPrevious returned nil for an existing image")
	}
	if prev.Unusable != "" {
		t.Fatalf("unusable: %s", prev.Unusable)
	}
	want, _ := img.Digest()
	if prev.Digest != want {
		t.Fatalf("digest %s, want %s", prev.Digest, want)
	}
	if len(prev.Layers) != len(layers) {
		t.Fatalf("%d layers, want %d", len(prev.Layers), len(layers))
	}
	for i, pl := range prev.Layers {
		w := layers[i]
		if pl.Meta.Key != w.Meta.Key || pl.Meta.Name != w.Meta.Name || len(pl.Meta.Paths) != len(w.Meta.Paths) || pl.Meta.Paths[0] != w.Meta.Paths[0] {
			t.Errorf("layer %d meta = %+v, want %+v", i, pl.Meta, w.Meta)
		}
		if _, ok := pl.Layer.(*remote.MountableLayer); !ok {
			t.Errorf("layer %d is %T, want *remote.MountableLayer (for cross-repo mounts)", i, pl.Layer)
		}
		wd, _ := w.Layer.Digest()
		wdiff, _ := w.Layer.DiffID()
		wsize, _ := w.Layer.Size()
		gd, err1 := pl.Layer.Digest()
		gdiff, err2 := pl.Layer.DiffID()
		gsize, err3 := pl.Layer.Size()
		if err1 != nil || err2 != nil || err3 != nil || gd != wd || gdiff != wdiff || gsize != wsize {
			t.Errorf("layer %d: digest %s/%s diffID %s/%s size %d/%d (%v %v %v)", i, gd, wd, gdiff, wdiff, gsize, wsize, err1, err2, err3)
		}
		if pl.Descriptor.Digest != wd {
			t.Errorf("layer %d descriptor digest %s", i, pl.Descriptor.Digest)
		}
		got, ok := prev.ByKey(w.Meta.Key)
		if !ok || got.Descriptor.Digest != wd {
			t.Errorf("ByKey(%s) = %v, %v", w.Meta.Key, got.Descriptor.Digest, ok)
		}
	}
	if _, ok := prev.ByKey(testKey(999)); ok {
		t.Error("ByKey found a key that is not there")
	}
}

func TestLoadPreviousRoundTripInMemory(t *testing.T) {
	reg := memregistry.Start(t)
	layers := testNamed(t, 3)
	img, err := Assemble(nil, layers, ConfigOptions{Platform: v1.Platform{Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, reg.Host+"/app/x:latest")
	push(t, ref, img)
	reg.Reset()

	prev, err := LoadPrevious(context.Background(), testClient(t), ref, v1.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, prev, img, layers)
	cd, _ := img.ConfigName()
	for _, r := range reg.Requests() {
		if strings.Contains(r, "/blobs/") && !strings.HasSuffix(r, cd.String()) {
			t.Errorf("LoadPrevious fetched a layer blob: %s", r)
		}
	}
}

func TestLoadPreviousRealRegistry(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	layers := testNamed(t, 3)
	img, err := Assemble(nil, layers, ConfigOptions{Platform: v1.Platform{Architecture: "amd64"}, Env: []string{"A=b"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, reg.Ref("team/app:v1"))
	push(t, ref, img)
	prev, err := LoadPrevious(context.Background(), testClient(t), ref, v1.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, prev, img, layers)
}

func TestLoadPreviousNotFound(t *testing.T) {
	reg := memregistry.Start(t)
	// Unknown repository.
	prev, err := LoadPrevious(context.Background(), testClient(t), mustRef(t, reg.Host+"/nope:latest"), v1.Platform{})
	if err != nil || prev != nil {
		t.Fatalf("unknown repo: %v, %v; want nil, nil", prev, err)
	}
	// Known repository, unknown tag.
	img, _ := Assemble(nil, testNamed(t, 1), ConfigOptions{})
	push(t, mustRef(t, reg.Host+"/repo:one"), img)
	prev, err = LoadPrevious(context.Background(), testClient(t), mustRef(t, reg.Host+"/repo:two"), v1.Platform{})
	if err != nil || prev != nil {
		t.Fatalf("unknown tag: %v, %v; want nil, nil", prev, err)
	}
	// A server error is not "not found".
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		http.Error(w, "boom", http.StatusBadRequest)
	}))
	defer srv.Close()
	_, err = LoadPrevious(context.Background(), testClient(t), mustRef(t, strings.TrimPrefix(srv.URL, "http://")+"/x:y"), v1.Platform{})
	if err == nil || regclient.IsNotFound(err) {
		t.Fatalf("400 answer: err = %v, want a non-not-found error", err)
	}
}

func TestLoadPreviousInconsistentImage(t *testing.T) {
	reg := memregistry.Start(t)
	img, err := Assemble(nil, testNamed(t, 2), ConfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.RootFS.DiffIDs = cf.RootFS.DiffIDs[:1] // config now lists 1 diffID, manifest 2 layers
	bad, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, reg.Host+"/bad:latest")
	push(t, ref, bad)
	prev, err := LoadPrevious(context.Background(), testClient(t), ref, v1.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	if prev == nil || len(prev.Layers) != 0 || prev.Unusable == "" {
		t.Fatalf("inconsistent image: %+v, want no reusable layers and a reason", prev)
	}
	if _, ok := prev.ByKey(testKey(0)); ok {
		t.Fatal("ByKey found a layer in an unusable image")
	}
}

func TestLoadPreviousForeignMetadata(t *testing.T) {
	reg := memregistry.Start(t)
	layers := testNamed(t, 4)
	img, err := Assemble(nil, layers, ConfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite annotations and history comments as a hostile or sloppy tool might.
	m, _ := img.Manifest()
	cf, _ := img.ConfigFile()
	m.Layers[0].Annotations = map[string]string{AnnotationKey: "not-a-key", AnnotationLayer: "x\x00y"}
	cf.History[0].Comment = `{"paths": 7`
	m.Layers[1].Annotations = nil // lost annotations: fall back on the comment
	cf.History[2].Comment = `{"name":"layer-2","key":"` + testKey(77) + `","paths":[{"path":"/nix/store/a","narSize":1}]}`
	cf.History[3].Comment = `{"name":"layer-3","key":"` + testKey(3) + `","paths":[{"path":"relative","narSize":-5}]}`
	metas, why := layerMetas(m, cf)
	if why != "" {
		t.Fatal(why)
	}
	if metas[0].Key != "" || metas[0].Name != "" || metas[0].Paths != nil {
		t.Errorf("malformed annotations must be ignored: %+v", metas[0])
	}
	if metas[1].Key != testKey(1) || metas[1].Name != "layer-1" || len(metas[1].Paths) != 1 {
		t.Errorf("comment fallback: %+v", metas[1])
	}
	if metas[2].Key != testKey(2) || metas[2].Paths != nil {
		t.Errorf("comment with another key must not lend its paths: %+v", metas[2])
	}
	if metas[3].Key != testKey(3) || metas[3].Paths != nil || !metas[3].Truncated {
		t.Errorf("bad path entries: %+v", metas[3])
	}

	// The same through a registry: push an image whose config has broken comments.
	broken, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, reg.Host+"/foreign:latest")
	push(t, ref, broken)
	prev, err := LoadPrevious(context.Background(), testClient(t), ref, v1.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	// Layer 0 keeps its intact annotation key but its malformed comment gives no paths.
	if len(prev.Layers) != 4 || prev.Layers[0].Meta.Key != testKey(0) || len(prev.Layers[0].Meta.Paths) != 0 {
		t.Fatalf("foreign image layers: %+v", prev.Layers)
	}
	if len(prev.Layers[1].Meta.Paths) != 1 {
		t.Fatalf("layer 1 should keep its intact comment: %+v", prev.Layers[1].Meta)
	}
	if _, ok := prev.ByKey(testKey(0)); !ok {
		t.Error("layer 0 key from its intact annotation should be found")
	}
}

func TestLayerMetasHistoryNotAligned(t *testing.T) {
	img, err := Assemble(nil, testNamed(t, 2), ConfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	cf, _ := img.ConfigFile()
	// An extra non-empty history entry: comments can no longer be placed.
	cf.History = append([]v1.History{{CreatedBy: "RUN something"}}, cf.History...)
	metas, why := layerMetas(m, cf)
	if why != "" {
		t.Fatal(why)
	}
	for i, meta := range metas {
		if meta.Key != testKey(i) || meta.Paths != nil {
			t.Errorf("layer %d: %+v, want key from annotation and no paths", i, meta)
		}
	}
	// Empty-layer history entries are skipped when aligning.
	cf.History[0].EmptyLayer = true
	metas, _ = layerMetas(m, cf)
	if len(metas[1].Paths) != 1 {
		t.Errorf("empty_layer entries must not break alignment: %+v", metas[1])
	}
}

// testClient is a registry client with a short retry budget.
func testClient(t testing.TB) *regclient.Client {
	t.Helper()
	c, err := regclient.New(regclient.WithRetry(remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 2}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLoadPreviousPlatform: a tag holding an index is read as its child
// for the platform asked for; an index without one is an error; a
// single-platform image for another platform is unusable.
func TestLoadPreviousPlatform(t *testing.T) {
	reg := memregistry.Start(t)
	arches := map[string]v1.Image{}
	for i, arch := range []string{"amd64", "arm64"} {
		img, err := Assemble(nil, testNamed(t, i+1), ConfigOptions{Platform: v1.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		arches[arch] = img
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: arches[arch],
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	ref := mustRef(t, reg.Host+"/multi:latest")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	prev, err := LoadPrevious(context.Background(), testClient(t), ref, v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := arches["arm64"].Digest()
	if prev.Digest != want || len(prev.Layers) != 2 || prev.Unusable != "" {
		t.Errorf("arm64 child: digest %s (want %s), %d layers, unusable %q", prev.Digest, want, len(prev.Layers), prev.Unusable)
	}
	if _, err := LoadPrevious(context.Background(), testClient(t), ref, v1.Platform{OS: "linux", Architecture: "riscv64"}); err == nil {
		t.Error("an index without a riscv64 child was read for riscv64")
	}
	single := mustRef(t, reg.Host+"/single:latest")
	push(t, single, arches["amd64"])
	prev, err = LoadPrevious(context.Background(), testClient(t), single, v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prev.Unusable, "linux/amd64, not linux/arm64") || len(prev.Layers) != 0 {
		t.Errorf("amd64 image read for arm64: unusable %q, %d layers", prev.Unusable, len(prev.Layers))
	}
}
