package image

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Verify accepts only a layer that proves it is ours.
func TestVerify(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	diff := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	paths := []string{"/nix/store/" + strings.Repeat("c", 32) + "-x"}
	good := PreviousLayer{
		Meta:         LayerMeta{Paths: []PathSize{{Path: paths[0]}}, Digest: d.String(), Size: 10, DiffID: diff.String()},
		Descriptor:   v1.Descriptor{MediaType: types.OCILayer, Digest: d, Size: 10},
		ConfigDiffID: diff,
	}
	if why := good.Verify(paths, types.OCILayer); why != "" {
		t.Fatalf("a faithful layer was refused: %s", why)
	}
	for name, edit := range map[string]func(*PreviousLayer){
		"truncated":            func(p *PreviousLayer) { p.Meta.Truncated = true },
		"no paths":             func(p *PreviousLayer) { p.Meta.Paths = nil },
		"other paths":          func(p *PreviousLayer) { p.Meta.Paths = []PathSize{{Path: paths[0] + "y"}} },
		"docker media":         func(p *PreviousLayer) { p.Descriptor.MediaType = types.DockerLayer },
		"zstd media":           func(p *PreviousLayer) { p.Descriptor.MediaType = types.OCILayerZStd },
		"unrecorded":           func(p *PreviousLayer) { p.Meta.Digest = "" },
		"size lies":            func(p *PreviousLayer) { p.Descriptor.Size = 11 },
		"digest lies":          func(p *PreviousLayer) { p.Descriptor.Digest = diff },
		"diffID lies":          func(p *PreviousLayer) { p.ConfigDiffID = d },
		"empty list for paths": func(p *PreviousLayer) { p.Meta.Paths = []PathSize{} },
	} {
		p := good
		edit(&p)
		if why := p.Verify(paths, types.OCILayer); why == "" {
			t.Errorf("%s: accepted", name)
		}
	}
	// A layer with no store paths of its own (a root layer whose paths all
	// sit in earlier layers) records an empty list, which matches an empty
	// plan; no list at all does not.
	empty := good
	empty.Meta.Paths = []PathSize{}
	if why := empty.Verify(nil, types.OCILayer); why != "" {
		t.Errorf("an empty recorded path list for an empty plan was refused: %s", why)
	}
	empty.Meta.Paths = nil
	if why := empty.Verify(nil, types.OCILayer); why == "" {
		t.Error("a layer recording no path list was accepted for an empty plan")
	}
}

// Verify ties the media type to the key's format: a tar+zstd descriptor
// proves a zstd layer, not a gzip one, and the other way round.
func TestVerifyMediaTypeFollowsFormat(t *testing.T) {
	good := goodPrevious()
	paths := []string{good.Meta.Paths[0].Path}
	good.Descriptor.MediaType = types.OCILayerZStd
	if why := good.Verify(paths, types.OCILayerZStd); why != "" {
		t.Errorf("a faithful zstd layer was refused: %s", why)
	}
	if why := good.Verify(paths, types.OCILayer); !strings.Contains(why, "tar+zstd") {
		t.Errorf("a tar+zstd layer under a gzip key: %q", why)
	}
	good.Descriptor.MediaType = types.OCILayer
	if why := good.Verify(paths, types.OCILayerZStd); why == "" {
		t.Error("a tar+gzip layer under a zstd key was accepted")
	}
}

// goodPrevious is a previous gzip layer that proves it is ours.
func goodPrevious() PreviousLayer {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	diff := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	return PreviousLayer{
		Meta:         LayerMeta{Paths: []PathSize{{Path: "/nix/store/" + strings.Repeat("c", 32) + "-x"}}, Digest: d.String(), Size: 10, DiffID: diff.String()},
		Descriptor:   v1.Descriptor{MediaType: types.OCILayer, Digest: d, Size: 10},
		ConfigDiffID: diff,
	}
}
