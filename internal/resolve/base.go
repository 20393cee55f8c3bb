package resolve

import (
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
)

// baseExclude returns the store paths a base image already holds, as
// recorded by nix-layer-action in the base's own metadata, and the base's
// layer count. Only path lists that prove they are ours and complete
// (verify) are used; others are named in a warning and their paths are not
// subtracted (their files simply lie below ours, as a foreign base's do).
func baseExclude(base *image.Previous) (map[string]bool, int, []string) {
	if base == nil {
		return nil, 0, nil
	}
	ex := map[string]bool{}
	var warnings []string
	for i, l := range base.Layers {
		if l.Meta.Key == "" {
			continue // not ours: nothing recorded to subtract
		}
		var paths []string
		for _, p := range l.Meta.Paths {
			paths = append(paths, p.Path)
		}
		slices.Sort(paths)
		// The base may have been written in either format; its key is
		// not ours to recompute, so either media type of ours will do.
		mt := types.OCILayer
		if l.Descriptor.MediaType == types.OCILayerZStd {
			mt = types.OCILayerZStd
		}
		if why := l.Verify(paths, mt); why != "" {
			warnings = append(warnings, fmt.Sprintf("base image %s layer %d (%s): %s; its store paths are not subtracted from this image's layers", base.Ref, i+1, l.Meta.Name, why))
			continue
		}
		for _, p := range paths {
			ex[p] = true
		}
	}
	m, err := base.Image.Manifest()
	n := len(base.Layers)
	if err == nil {
		n = len(m.Layers)
	}
	return ex, n, warnings
}
