package pipeline

import (
	"github.com/org/nix-layer-action/internal/bytesize"
	"github.com/org/nix-layer-action/internal/layering"
)

// onShard keeps, in a split build, the layers assigned to this run's part
// (layering.AssignShards over the layers' content sizes, so every part
// computes the same assignment from the plan alone); empty layers, in no
// image, are left out too. A whole build keeps every layer.
func (r *run) onShard(ls []*imageLayer) []*imageLayer {
	s := r.o.Shard
	if !s.Split() {
		return ls
	}
	sizes := make([]int64, len(ls))
	var total int64
	for i, il := range ls {
		sizes[i] = il.plan.ContentSize()
		if il.plan.Empty {
			sizes[i] = -1
		} else {
			total += sizes[i]
		}
	}
	var out []*imageLayer
	var mine int64
	for i, part := range layering.AssignShards(sizes, s.Count) {
		if part == s.Index {
			out = append(out, ls[i])
			mine += sizes[i]
		}
	}
	r.log.printf("shard %s: %s of %d (%s of %s)", s, count(len(out), "layer"), layering.TotalLayers(layersOf(ls)),
		bytesize.Format(mine), bytesize.Format(total))
	return out
}

func layersOf(ls []*imageLayer) []layering.Layer {
	out := make([]layering.Layer, len(ls))
	for i, il := range ls {
		out[i] = il.plan.Layer
	}
	return out
}
