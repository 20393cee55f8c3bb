package layering

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

func TestAutoGrouping(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	checked, pressured := 0, 0
	for iter := range 60 {
		infos := splitInfos(r, 30+r.IntN(200), 1000)
		g, _ := closure.NewGraph(infos)
		baseRoot := infos[r.IntN(len(infos)-1)].Path
		n := 1 + r.IntN(12)
		var total int64
		for _, in := range infos {
			total += in.NarSize
		}
		limit := int64(1000)
		if r.IntN(2) == 0 {
			limit = max(1000, total*2/int64(n)) // size limit may bind
		} else {
			limit = total // never binds
		}
		layers, err := Assign(g, []Spec{
			{Name: "base", Roots: []string{baseRoot}, MaxSize: total},
			{Name: "auto", Auto: n},
		}, Options{AllRoots: []string{p("env")}, MaxLayerSize: limit})
		var ae *AutoLimitError
		if errors.As(err, &ae) {
			continue // checked in TestAutoLimitError
		}
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		base, auto := layers[0], layers[1:]
		if base.Name != "base" {
			t.Fatalf("iter %d: first layer %q", iter, base.Name)
		}
		if len(auto) > n || len(auto) == 0 {
			t.Fatalf("iter %d: %d auto layers, max %d", iter, len(auto), n)
		}
		inBase := map[string]bool{}
		for _, x := range base.Paths {
			inBase[x] = true
		}
		var want []closure.PathInfo // every path not in base
		for _, in := range infos {
			if !inBase[in.Path] {
				want = append(want, in)
			}
		}
		got := map[string]bool{}
		for i, l := range auto {
			if l.Name != fmt.Sprintf("auto-%d", i+1) || l.Group != "auto" || l.Empty {
				t.Errorf("iter %d: layer %d named %q group %q", iter, i, l.Name, l.Group)
			}
			if l.NarSize > limit {
				t.Errorf("iter %d: %s has %d bytes, limit %d", iter, l.Name, l.NarSize, limit)
			}
			for _, x := range l.Paths {
				if got[x] || inBase[x] {
					t.Errorf("iter %d: %s placed twice", iter, x)
				}
				got[x] = true
			}
		}
		if len(got) != len(want) {
			t.Fatalf("iter %d: auto layers hold %d paths, want %d", iter, len(got), len(want))
		}
		// The leading single-path layers are the most popular paths, in
		// order (popularity desc, size desc, path asc), as in dockerTools.
		slices.SortFunc(want, func(a, b closure.PathInfo) int {
			return cmp.Or(cmp.Compare(naivePopularity(g, b.Path), naivePopularity(g, a.Path)),
				cmp.Compare(b.NarSize, a.NarSize), strings.Compare(a.Path, b.Path))
		})
		singles := 0
		for _, l := range auto[:len(auto)-1] {
			if len(l.Paths) != 1 {
				break
			}
			if l.Paths[0] != want[singles].Path {
				t.Errorf("iter %d: %s holds %s, want the next most popular %s", iter, l.Name, l.Paths[0], want[singles].Path)
			}
			singles++
		}
		if limit == total && len(want) >= n && len(auto) != n {
			t.Errorf("iter %d: no size pressure but %d layers instead of max-layers %d", iter, len(auto), n)
		}
		checked++
		if len(auto) > 1 && len(auto[len(auto)-2].Paths) > 1 {
			pressured++ // the size limit forced the remainder into several layers
		}
	}
	if checked < 40 || pressured < 5 {
		t.Errorf("only %d iterations checked, %d with size pressure: the generator no longer exercises auto", checked, pressured)
	}
	t.Logf("%d iterations checked, %d with the remainder split by size", checked, pressured)
}

func TestAutoFewPathsEachOwnLayer(t *testing.T) {
	g := newBuilder().add("c", 5).add("b", 5, "c").add("a", 5, "b").graph(t)
	layers, err := Assign(g, []Spec{{Name: "rest", Auto: 10}}, Options{AllRoots: []string{p("a")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 3 {
		t.Fatalf("%d layers, want 3", len(layers))
	}
	for i, want := range []string{"c", "b", "a"} { // c is reached by 2, b by 1, a by 0
		if l := layers[i]; l.Name != fmt.Sprintf("rest-%d", i+1) || !slices.Equal(l.Paths, ps(want)) {
			t.Errorf("layer %d: %s %v, want %s", i, l.Name, l.Paths, want)
		}
	}
}

func TestAutoOneLayerGetsEverything(t *testing.T) {
	g := newBuilder().add("c", 5).add("b", 5, "c").add("a", 5, "b").graph(t)
	layers, err := Assign(g, []Spec{{Name: "rest", Auto: 1}}, Options{AllRoots: []string{p("a")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 || layers[0].Name != "rest-1" || !slices.Equal(layers[0].Paths, ps("a", "b", "c")) {
		t.Errorf("got %+v", layers)
	}
}

func TestAutoLimitError(t *testing.T) {
	g := newBuilder().add("c", 600).add("b", 600, "c").add("a", 600, "b").graph(t)
	_, err := Assign(g, []Spec{{Name: "rest", Auto: 2}}, Options{AllRoots: []string{p("a")}, MaxLayerSize: 1000})
	var ae *AutoLimitError
	if !errors.As(err, &ae) || ae.MaxLayers != 2 || ae.Paths != 3 || ae.Size != 1800 || ae.Limit != 1000 {
		t.Fatalf("err = %v (%+v), want *AutoLimitError", err, ae)
	}
	if !strings.Contains(err.Error(), `layer "rest"`) || !strings.Contains(err.Error(), "max-layers 2") {
		t.Errorf("message %q", err)
	}
	// Three layers are enough.
	layers, err := Assign(g, []Spec{{Name: "rest", Auto: 3}}, Options{AllRoots: []string{p("a")}, MaxLayerSize: 1000})
	if err != nil || len(layers) != 3 {
		t.Errorf("max-layers 3: %v, %d layers", err, len(layers))
	}
	// A single path over the limit is a TooLargeError, not an AutoLimitError.
	_, err = Assign(g, []Spec{{Name: "rest", Auto: 5}}, Options{AllRoots: []string{p("a")}, MaxLayerSize: 500})
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Errorf("err = %v, want *TooLargeError", err)
	}
}

func TestAutoEmptyExcludeAndLaterSpec(t *testing.T) {
	g := dedupGraph(t)
	all := []string{p("app1"), p("app2"), p("app3")}
	// Everything claimed before the auto entry: one empty auto layer.
	layers, err := Assign(g, []Spec{{Name: "all", Roots: all}, {Name: "auto", Auto: 4}}, Options{AllRoots: all})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 || !layers[1].Empty || layers[1].Name != "auto" || TotalLayers(layers) != 1 {
		t.Errorf("got %+v", layers)
	}
	// A spec after the auto entry keeps its closure (minus earlier layers);
	// excluded paths go nowhere.
	layers, err = Assign(g, []Spec{
		{Name: "one", Roots: []string{p("app1")}}, // app1 lib glibc
		{Name: "auto", Auto: 4},
		{Name: "root", Roots: []string{p("app3")}}, // app3 (lib claimed), tool excluded
	}, Options{AllRoots: all, Exclude: map[string]bool{p("tool"): true}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range layers {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"one", "auto-1", "root"}) {
		t.Fatalf("names %v", names)
	}
	if !slices.Equal(layers[1].Paths, ps("app2")) || !slices.Equal(layers[2].Paths, ps("app3")) {
		t.Errorf("auto %v, root %v", layers[1].Paths, layers[2].Paths)
	}
}
