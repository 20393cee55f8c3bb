package layering

import (
	"fmt"

	"github.com/org/nix-layer-action/internal/bytesize"
)

// MaxLayers is the hard limit on layers per image (overlayfs and several
// runtimes refuse more than 127 lower layers); WarnLayers is where Budget
// starts warning.
const (
	MaxLayers  = 127
	WarnLayers = 100
)

// TooLargeError reports a single store path larger than the layer size
// limit: it cannot be placed in any layer.
type TooLargeError struct {
	Path  string
	Size  int64 // NAR size of Path
	Limit int64 // the layer's size limit
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("store path %s is %s, larger than the layer size limit of %s; "+
		"a store path cannot be split across layers: raise max-size (layer) or max-layer-size (plan)",
		e.Path, bytesize.FormatExact(e.Size), bytesize.FormatExact(e.Limit))
}

// AutoLimitError reports that the auto layer's paths do not fit into its
// max-layers layers of at most Limit bytes each.
type AutoLimitError struct {
	MaxLayers int
	Paths     int   // number of paths to place
	Size      int64 // their total NAR size
	Limit     int64 // per-layer size limit
}

func (e *AutoLimitError) Error() string {
	return fmt.Sprintf("auto: %d store paths (%s) do not fit into max-layers %d layers of at most %s each: "+
		"raise auto max-layers or max-size", e.Paths, bytesize.FormatExact(e.Size), e.MaxLayers, bytesize.FormatExact(e.Limit))
}

// BudgetError reports an image with more layers than MaxLayers.
type BudgetError struct{ Layers, Max int }

func (e *BudgetError) Error() string {
	return fmt.Sprintf("image would have %d layers, more than the maximum of %d: "+
		"merge layers in the plan or lower auto max-layers", e.Layers, e.Max)
}

// Budget checks a total layer count n (including any base image layers):
// warn is true above WarnLayers (100); above MaxLayers (127) it returns a
// *BudgetError.
func Budget(n int) (warn bool, err error) {
	if n > MaxLayers {
		return true, &BudgetError{Layers: n, Max: MaxLayers}
	}
	return n > WarnLayers, nil
}
