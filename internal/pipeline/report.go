package pipeline

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/resolve"
)

// report fills the report from what was built or reused. Layers not
// reused by key are "built" until publishing says what happened to them.
func (r *run) report(ls []*imageLayer, img v1.Image) (*report.Report, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	target := targetOf(r.o.Target, r.prevs)
	rep := &report.Report{
		Digest:   digest.String(),
		Plan:     r.o.PlanFile,
		Platform: r.res.Platform.String(),
		Tags:     r.o.Tags,
		Changed:  target == nil || target.Digest != digest,
	}
	if r.o.Target != nil {
		rep.Image = r.o.Target.String()
	}
	rep.Warnings = append(rep.Warnings, r.res.Warnings...)
	prevByName := previousByName(target, rep)
	for _, il := range ls {
		if il.warning != "" {
			rep.Warnings = append(rep.Warnings, il.warning)
		}
		rl := reportLayer(il, prevByName)
		if !il.plan.Empty {
			rl.Source = r.layerSource(il)
		}
		rep.Layers = append(rep.Layers, rl)
	}
	rep.CumulativeSize, rep.DedupSize = cumulative(r.res)
	rep.Fetch = r.fetch()
	rep.PeakTempBytes = r.temp.Peak()
	if r.o.Shard.Split() {
		rep.Shard = r.o.Shard.String()
	}
	if target != nil && !r.o.Shard.Split() {
		// A part holds some layers only: a package diff against the
		// whole previous image would call every other part's removed.
		rep.Diff = layerDiff(target, ls)
	}
	base := baseLayers(r.res.Base)
	rep.Layers = append(base, rep.Layers...)
	for _, l := range rep.Layers {
		rep.ImageSize += l.Size
	}
	for i := range rep.Layers {
		if rep.Layers[i].Status == "" {
			rep.Layers[i].Status = report.StatusBuilt
		}
	}
	return rep, nil
}

// previousByName indexes the target's layers by name and records its
// digest and size in rep.
func previousByName(target *image.Previous, rep *report.Report) map[string]image.PreviousLayer {
	out := map[string]image.PreviousLayer{}
	if target == nil {
		return out
	}
	rep.PreviousDigest = target.Digest.String()
	for _, pl := range target.Layers {
		rep.PreviousSize += pl.Descriptor.Size
		if pl.Meta.Name != "" {
			out[pl.Meta.Name] = pl
		}
	}
	return out
}

func reportLayer(il *imageLayer, prevByName map[string]image.PreviousLayer) report.Layer {
	rl := report.Layer{Name: il.plan.Name(), Key: il.plan.Key, Paths: il.plan.Paths(), Status: il.status, Empty: il.plan.Empty, NarSize: il.plan.ContentSize()}
	if il.layer == nil {
		return rl
	}
	if d, err := il.layer.Digest(); err == nil {
		rl.Digest = d.String()
	}
	if d, err := il.layer.DiffID(); err == nil {
		rl.DiffID = d.String()
	}
	if s, err := il.layer.Size(); err == nil {
		rl.Size = s
	}
	if pl, ok := prevByName[il.plan.Name()]; ok {
		rl.Previous = &report.PrevLayer{Digest: pl.Descriptor.Digest.String(), Key: pl.Meta.Key, Size: pl.Descriptor.Size}
	}
	rl.UncompressedSize = il.meta.UncompressedSize
	if rl.UncompressedSize == 0 {
		rl.UncompressedSize = il.plan.NarSize()
	}
	return rl
}

// layerDiff compares the target's recorded path lists with the new layers.
func layerDiff(target *image.Previous, ls []*imageLayer) *report.Diff {
	var prev []report.LayerPaths
	for _, pl := range target.Layers {
		prev = append(prev, toLayerPaths(pl.Meta, compressionOf(pl.Descriptor.MediaType)))
	}
	var next []report.LayerPaths
	for _, il := range ls {
		if !il.plan.Empty {
			next = append(next, toLayerPaths(il.meta, string(il.plan.Spec.Format.Compression)))
		}
	}
	return report.ComputeDiff(prev, next)
}

// toLayerPaths is what the diff compares of a layer: its recorded paths
// and its compression.
func toLayerPaths(m image.LayerMeta, compression string) report.LayerPaths {
	lp := report.LayerPaths{Name: m.Name, Key: m.Key, Compression: compression}
	for _, p := range m.Paths {
		lp.Paths = append(lp.Paths, report.PathSize{Path: p.Path, NarSize: p.NarSize})
	}
	return lp
}

// compressionOf names the compression of a published layer's media type
// ("" for one this tool does not write).
func compressionOf(mt types.MediaType) string {
	switch mt {
	case layer.ZstdFormat.MediaType():
		return string(layer.Zstd)
	case layer.DefaultFormat.MediaType(), types.DockerLayer:
		return string(layer.Gzip)
	}
	return ""
}

// cumulative returns the NAR bytes a cumulative-layer build (every layer
// holding its full closure, as dockerTools' layered environments do) would
// ship, and the NAR bytes this image's layers hold.
func cumulative(res *resolve.Resolved) (cum, dedup int64) {
	for _, l := range res.Layers {
		dedup += l.NarSize()
	}
	for _, roots := range res.Roots {
		if len(roots) == 0 {
			continue
		}
		paths, err := res.Graph.Closure(roots...)
		if err != nil {
			continue
		}
		for _, p := range paths {
			info, _ := res.Graph.Info(p)
			cum += info.NarSize
		}
	}
	return cum, dedup
}

// applyStatus fills pushed/exists/mounted from what a registry publisher
// saw; a layer reused by key stays "cached" unless it had to be mounted.
// Without registry statuses (local outputs) layers stay "built".
func applyStatus(r *report.Report, status map[v1.Hash]regclient.BlobStatus) {
	if status == nil {
		return
	}
	for i := range r.Layers {
		l := &r.Layers[i]
		if l.Digest == "" {
			continue
		}
		h, err := v1.NewHash(l.Digest)
		if err != nil {
			continue
		}
		s, ok := status[h]
		switch {
		case l.Status == report.StatusCached && s == regclient.BlobMounted:
			l.Status = report.StatusMounted
		case l.Status == report.StatusCached:
		case ok:
			l.Status = report.Status(s)
		default:
			l.Status = report.StatusExists
		}
	}
}

// layerSource says where a layer's bytes came from: the most expensive
// origin among its paths, or "reused".
func (r *run) layerSource(il *imageLayer) string {
	if il.built == nil && !il.streamed {
		return "reused"
	}
	src := resolve.OriginLocal
	for _, p := range il.plan.Paths() {
		switch o := r.res.Origin(p); {
		case o == resolve.OriginBuilt:
			return string(resolve.OriginBuilt)
		case o == resolve.OriginSubstituter:
			src = o
		}
	}
	return string(src)
}

// fetch sums the binary-cache traffic of the run (nil without caches).
func (r *run) fetch() *report.Fetch {
	if r.o.Substituter == nil {
		return nil
	}
	f := &report.Fetch{}
	for _, s := range r.o.Substituter.Stats() {
		f.NarinfoRequests += s.NarinfoRequests
		f.NarinfoBytes += s.NarinfoBytes
		f.NARRequests += s.NARRequests
		f.NARWireBytes += s.NARWireBytes
		f.NARBytes += s.NARBytes
	}
	for _, p := range r.res.Graph.Paths() {
		in, _ := r.res.Graph.Info(p)
		f.ClosureNARBytes += in.NarSize
	}
	return f
}
