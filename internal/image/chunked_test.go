package image

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/layer"
)

// A layer's format annotations (zstd:chunked's) go onto its descriptor
// beside ours, which win; on top of a base image (from:) whose layers
// carry such annotations, those stay on the base's descriptors.
func TestAssembleFormatAnnotations(t *testing.T) {
	ls := zstdNamed(t, 2)
	ls[0].Annotations = map[string]string{layer.ChunkedManifestChecksum: "sha256:1", layer.ChunkedManifestPosition: "1:2:3:1", AnnotationKey: "not ours"}
	base, err := Assemble(nil, ls[:1], ConfigOptions{Platform: v1.Platform{Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	ls[1].Annotations = map[string]string{layer.ChunkedManifestChecksum: "sha256:2", layer.ChunkedManifestPosition: "4:5:6:1"}
	img, err := Assemble(base, ls[1:], ConfigOptions{Platform: v1.Platform{Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers", len(m.Layers))
	}
	for i, want := range []string{"1:2:3:1", "4:5:6:1"} {
		a := m.Layers[i].Annotations
		if a[layer.ChunkedManifestPosition] != want || a[AnnotationKey] != ls[i].Meta.Key || a[AnnotationLayer] != ls[i].Meta.Name {
			t.Errorf("layer %d: annotations %v", i, a)
		}
	}
	if ls[0].Annotations[AnnotationKey] != "not ours" {
		t.Error("Assemble changed the caller's map")
	}
}
