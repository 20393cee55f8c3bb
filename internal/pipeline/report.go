package pipeline

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/report"
)

// metaFor is what the image records about a layer so later runs (and PR
// diffs) can compare without pulling blobs.
func metaFor(res *Resolved, l layering.Layer) image.LayerMeta {
	m := image.LayerMeta{Name: l.Name, Key: l.Key}
	for _, p := range l.Paths {
		info, _ := res.Graph.Info(p)
		m.Paths = append(m.Paths, image.PathSize{Path: p, NarSize: info.NarSize})
	}
	return m
}

// newReport fills the report from what was built or reused. Statuses of
// layers that were not reused by key are filled in after publishing.
func newReport(o Options, res *Resolved, ls []*builtLayer, digest v1.Hash, target *image.Previous) *report.Report {
	r := &report.Report{
		Image:  o.Image,
		Digest: digest.String(),
		Plan:   o.PlanFile,
		Tags:   o.Tags,
		Push:   o.Push,
	}
	prevByName := map[string]image.PreviousLayer{}
	if target != nil {
		for _, pl := range target.Layers {
			r.PreviousSize += pl.Descriptor.Size
			if pl.Meta.Name != "" {
				prevByName[pl.Meta.Name] = pl
			}
		}
	}
	if target != nil {
		r.PreviousDigest = target.Digest.String()
		r.Changed = target.Digest != digest
	} else {
		r.Changed = true
	}
	r.Warnings = append(r.Warnings, res.Warnings...)
	for _, bl := range ls {
		if bl.warning != "" {
			r.Warnings = append(r.Warnings, bl.warning)
		}
		rl := report.Layer{Name: bl.plan.Name, Key: bl.plan.Key, Paths: bl.plan.Paths, Status: bl.status, Empty: bl.plan.Empty}
		if bl.layer != nil {
			if d, err := bl.layer.Digest(); err == nil {
				rl.Digest = d.String()
			}
			if d, err := bl.layer.DiffID(); err == nil {
				rl.DiffID = d.String()
			}
			if s, err := bl.layer.Size(); err == nil {
				rl.Size = s
			}
			if pl, ok := prevByName[bl.plan.Name]; ok {
				rl.Previous = &report.PrevLayer{Digest: pl.Descriptor.Digest.String(), Key: pl.Meta.Key, Size: pl.Descriptor.Size}
			}
			rl.UncompressedSize = bl.uncompressed
			if rl.UncompressedSize == 0 {
				rl.UncompressedSize = bl.plan.NarSize
			}
			r.ImageSize += rl.Size
		}
		r.Layers = append(r.Layers, rl)
	}
	r.CumulativeSize, r.DedupSize = cumulative(res)
	if target != nil {
		var prev []report.LayerPaths
		for _, pl := range target.Layers {
			prev = append(prev, toLayerPaths(pl.Meta))
		}
		var next []report.LayerPaths
		for _, bl := range ls {
			if bl.plan.Empty {
				continue
			}
			next = append(next, toLayerPaths(bl.meta))
		}
		r.Diff = report.ComputeDiff(prev, next)
	}
	return r
}

func toLayerPaths(m image.LayerMeta) report.LayerPaths {
	lp := report.LayerPaths{Name: m.Name, Key: m.Key}
	for _, p := range m.Paths {
		lp.Paths = append(lp.Paths, report.PathSize{Path: p.Path, NarSize: p.NarSize})
	}
	return lp
}

// cumulative returns the NAR bytes a cumulative-layer build (every layer
// holding its full closure, as dockerTools' layered environments do) would
// ship, and the NAR bytes this image's layers hold.
func cumulative(res *Resolved) (cum, dedup int64) {
	for _, l := range res.Layers {
		dedup += l.NarSize
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

// applyStatus fills pushed/exists/mounted from what the registry saw; a
// layer reused by key stays "cached" unless it had to be mounted.
func applyStatus(r *report.Report, status map[v1.Hash]string) {
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
		case l.Status == "cached" && s == "mounted":
			l.Status = "mounted"
		case l.Status == "cached":
		case ok:
			l.Status = s
		default:
			l.Status = "exists"
		}
	}
}
