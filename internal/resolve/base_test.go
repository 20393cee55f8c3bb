package resolve

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
)

// A base image written by this tool in zstd has its paths subtracted, as
// one in gzip does; a foreign media type does not.
func TestBaseExcludeAcceptsBothFormats(t *testing.T) {
	for mt, subtract := range map[types.MediaType]bool{types.OCILayer: true, types.OCILayerZStd: true, types.DockerLayer: false} {
		pl := goodPrevious()
		pl.Meta.Key = "sha256:" + strings.Repeat("d", 64)
		pl.Descriptor.MediaType = mt
		ex, _, warnings := baseExclude(&image.Previous{Image: empty.Image, Layers: []image.PreviousLayer{pl}})
		if got := ex[pl.Meta.Paths[0].Path]; got != subtract || (len(warnings) == 0) == !subtract {
			t.Errorf("%s: subtracted %v (want %v), warnings %q", mt, got, subtract, warnings)
		}
	}
}

// goodPrevious is a previous gzip layer that proves it is ours.
func goodPrevious() image.PreviousLayer {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	diff := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	return image.PreviousLayer{
		Meta:         image.LayerMeta{Paths: []image.PathSize{{Path: "/nix/store/" + strings.Repeat("c", 32) + "-x"}}, Digest: d.String(), Size: 10, DiffID: diff.String()},
		Descriptor:   v1.Descriptor{MediaType: types.OCILayer, Digest: d, Size: 10},
		ConfigDiffID: diff,
	}
}
