package plan

import (
	"fmt"
	"iter"
)

// ConfigLayerName is the label EachDep gives the deps of the config's
// {installable, path} items, which belong to no layer of their own.
const ConfigLayerName = "config"

// DepRef is one dep of the plan and where the plan names it.
type DepRef struct {
	Dep Dep
	// Layer is the name of the layer that names the dep: a plan layer's,
	// RootLayerName for root:, ConfigLayerName for a config item.
	Layer string
	// Field is the dep's field path in the plan, as a *Error names it:
	// "layers[0].deps[1]", "root[2]", "config.entrypoint[0].installable".
	Field string
}

// EachDep yields every dep of the plan in plan order: each layer's deps,
// then root:'s, then the installables of the config's {installable, path}
// items. It is the one walk of the plan's dependency lists.
func (p *Plan) EachDep() iter.Seq[DepRef] {
	return func(yield func(DepRef) bool) {
		for i, l := range p.Layers {
			for j, d := range l.Deps {
				if !yield(DepRef{Dep: d, Layer: l.Name, Field: fmt.Sprintf("layers[%d].deps[%d]", i, j)}) {
					return
				}
			}
		}
		for j, d := range p.Root {
			if !yield(DepRef{Dep: d, Layer: RootLayerName, Field: fmt.Sprintf("root[%d]", j)}) {
				return
			}
		}
		for _, a := range p.Config.Args {
			if !yield(DepRef{Dep: a.Dep, Layer: ConfigLayerName, Field: "config." + a.Field + ".installable"}) {
				return
			}
		}
	}
}
