package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
)

// manifestLayers reads back the layer descriptors of the image rep pushed.
func manifestLayers(t *testing.T, rep *report.Report) []v1.Descriptor {
	t.Helper()
	ref, _ := name.ParseReference(rep.Image)
	prev, err := image.LoadPrevious(context.Background(), newCountingClient(t), ref, v1.Platform{})
	if err != nil || prev == nil {
		t.Fatalf("reading back %s: %v", rep.Image, err)
	}
	m, err := prev.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers
}

// A zstd:chunked image's layer descriptors are tar+zstd with the table of
// contents' annotations beside ours; a rerun reuses every layer by key
// and carries the annotations over, so the image is the same, bit for
// bit; a zstd run has other keys.
func TestZstdChunkedRerunCarriesAnnotations(t *testing.T) {
	c := memregistry.Start(t)
	first, _ := buildIn(t, c, examplePlan, "ex/chunked:latest", layer.ZstdChunkedFormat)
	for n, s := range statuses(first) {
		if s != report.StatusPushed {
			t.Errorf("first push: layer %s %s", n, s)
		}
	}
	descs := manifestLayers(t, first)
	if len(descs) != 3 {
		t.Fatalf("image has %d layers", len(descs))
	}
	for i, d := range descs {
		a := d.Annotations
		if d.MediaType != types.OCILayerZStd || a[layer.ChunkedManifestChecksum] == "" || a[layer.ChunkedManifestPosition] == "" || a[image.AnnotationKey] == "" {
			t.Errorf("layer %d: media type %s, annotations %v", i, d.MediaType, a)
		}
	}
	again, logs := buildIn(t, c, examplePlan, "ex/chunked:latest", layer.ZstdChunkedFormat)
	for n, s := range statuses(again) {
		if s != report.StatusCached {
			t.Errorf("rerun: layer %s %s\n%s", n, s, logs)
		}
	}
	if again.Changed || again.BytesPushed != 0 || again.Digest != first.Digest {
		t.Errorf("rerun: changed %v, %d bytes, digest %s vs %s", again.Changed, again.BytesPushed, again.Digest, first.Digest)
	}
	for i, d := range manifestLayers(t, again) {
		if d.Annotations[layer.ChunkedManifestChecksum] != descs[i].Annotations[layer.ChunkedManifestChecksum] ||
			d.Annotations[layer.ChunkedManifestPosition] != descs[i].Annotations[layer.ChunkedManifestPosition] {
			t.Errorf("layer %d: annotations %v, first run %v", i, d.Annotations, descs[i].Annotations)
		}
	}
	zs, _ := buildIn(t, c, examplePlan, "ex/chunked:latest", layer.ZstdFormat)
	for i, l := range zs.Layers {
		if !l.Empty && (l.Key == first.Layers[i].Key || l.DiffID != first.Layers[i].DiffID) {
			t.Errorf("layer %s: zstd key %s diffID %s, zstd:chunked key %s diffID %s", l.Name, l.Key, l.DiffID, first.Layers[i].Key, first.Layers[i].DiffID)
		}
	}
	for i, d := range manifestLayers(t, zs) {
		if _, ok := d.Annotations[layer.ChunkedManifestChecksum]; ok {
			t.Errorf("zstd layer %d has zstd:chunked annotations %v", i, d.Annotations)
		}
	}
}

// rawManifest is a manifest to put as it is.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// A previous zstd:chunked layer whose descriptor lost its table of
// contents' annotations is not reused under its key (a puller could not
// find the table): it is rebuilt, and the new image has them again.
func TestZstdChunkedWithoutAnnotationsRebuilt(t *testing.T) {
	c := memregistry.Start(t)
	first, _ := buildIn(t, c, examplePlan, "ex/strip:latest", layer.ZstdChunkedFormat)
	ref, err := name.ParseReference(first.Image)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range m["layers"].([]any) {
		a := l.(map[string]any)["annotations"].(map[string]any)
		delete(a, layer.ChunkedManifestChecksum)
		delete(a, layer.ChunkedManifestPosition)
	}
	body, _ := json.Marshal(m)
	if err := remote.Put(ref, rawManifest{body, desc.MediaType}); err != nil {
		t.Fatal(err)
	}
	again, logs := buildIn(t, c, examplePlan, "ex/strip:latest", layer.ZstdChunkedFormat)
	for n, s := range statuses(again) {
		if s == report.StatusCached {
			t.Errorf("layer %s reused without its annotations", n)
		}
	}
	if !strings.Contains(logs, "lacks the zstd:chunked annotations") {
		t.Errorf("log does not say why:\n%s", logs)
	}
	if again.Digest != first.Digest {
		t.Errorf("rebuilt image %s, want the first %s (same bytes, annotations back)", again.Digest, first.Digest)
	}
}

// A zstd:chunked layer written straight into its upload (no layer files)
// gets its annotations too: the image is the one written with files.
func TestZstdChunkedStreamedLayers(t *testing.T) {
	c := memregistry.Start(t)
	withFiles, _ := buildIn(t, c, examplePlan, "ex/files:latest", layer.ZstdChunkedFormat)
	client, err := regclient.New()
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(c.Host + "/ex/streamed:latest")
	pub, err := publish.NewRegistry(client, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rep, err := Build(context.Background(), Options{
		PlanFile: examplePlan, Target: ref, TempDir: t.TempDir(), Registry: client, Log: &logs,
		Format: layer.ZstdChunkedFormat, StreamLayers: true,
	}, pub)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "straight into its upload") {
		t.Fatalf("layers were not streamed:\n%s", logs.String())
	}
	if rep.Digest != withFiles.Digest {
		t.Errorf("streamed image %s, with layer files %s", rep.Digest, withFiles.Digest)
	}
	for i, d := range manifestLayers(t, rep) {
		if d.Annotations[layer.ChunkedManifestChecksum] == "" {
			t.Errorf("streamed layer %d lacks the zstd:chunked annotations: %v", i, d.Annotations)
		}
	}
}
