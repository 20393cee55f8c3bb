package resolve

import (
	"fmt"
	"io"

	"github.com/org/nix-layer-action/internal/layer"
)

// NixOptions says how to run Nix. The zero value runs "nix" from PATH with
// the process environment only.
type NixOptions struct {
	Bin    string    // default "nix"
	Env    []string  // extra environment, e.g. NIX_CONFIG=...
	Stderr io.Writer // Nix's own progress output
	// System, when set, is the Nix system to evaluate and build for
	// (".#foo" means packages.<System>.foo), over the plan's system:. The
	// image's platform follows the system its derivations declare; one
	// for another system is an error.
	System string
	// NoBuild, when set, leaves unbuilt what no store or binary cache has
	// (its closure is known only once built): Resolve returns an
	// *UnbuiltError naming it instead of having Nix build it.
	NoBuild bool
}

// CheckFormat is f, or layer.DefaultFormat when f is zero, checked.
func CheckFormat(f layer.Format) (layer.Format, error) {
	if f == (layer.Format{}) {
		return layer.DefaultFormat, nil
	}
	if err := f.Validate(); err != nil {
		return layer.Format{}, fmt.Errorf("layer format: %w", err)
	}
	return f, nil
}
