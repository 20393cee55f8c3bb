package layering

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

// BenchmarkAssign: a synthetic graph of ~5,000 paths, 11 plain layers (some
// over their size limit, so they split) and an auto entry.
func BenchmarkAssign(b *testing.B) {
	r := rand.New(rand.NewPCG(99, 99))
	infos := randomInfos(r, 5000, 2_000_000)
	g, err := closure.NewGraph(infos)
	if err != nil {
		b.Fatal(err)
	}
	var specs []Spec
	var all []string
	for i := range 11 {
		// Roots spread over the graph: later paths have smaller closures.
		var roots []string
		for k := range 3 {
			roots = append(roots, infos[(i*450+k*37)%len(infos)].Path)
		}
		all = append(all, roots...)
		specs = append(specs, Spec{Name: fmt.Sprintf("layer%d", i), Roots: roots})
	}
	all = append(all, infos[4900].Path, infos[10].Path)
	specs = append(specs, Spec{Name: "auto", Auto: 20})
	opts := Options{MaxLayerSize: 400_000_000, AllRoots: all}

	layers, err := Assign(g, specs, opts)
	if err != nil {
		b.Fatal(err)
	}
	paths := 0
	for _, l := range layers {
		paths += len(l.Paths)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Assign(g, specs, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(TotalLayers(layers)), "layers")
	b.ReportMetric(float64(paths), "paths")
}
