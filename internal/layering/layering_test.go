package layering

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

// app1 → lib, glibc; app2 → glibc; app3 → lib, tool
func dedupGraph(t *testing.T) *closure.Graph {
	return newBuilder().
		add("glibc", 100).
		add("lib", 50, "glibc").
		add("tool", 10).
		add("app1", 5, "lib", "glibc").
		add("app2", 5, "glibc").
		add("app3", 5, "lib", "tool").
		graph(t)
}

func TestAssignDedupAgainstAllEarlierLayers(t *testing.T) {
	g := dedupGraph(t)
	layers, err := Assign(g, []Spec{
		{Name: "one", Roots: []string{p("app1")}},
		{Name: "two", Roots: []string{p("app2")}},
		{Name: "three", Roots: []string{p("app3")}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"one":   ps("app1", "lib", "glibc"),
		"two":   ps("app2"),         // glibc is in layer one
		"three": ps("app3", "tool"), // lib is in layer one, not in layer two
	}
	if len(layers) != 3 {
		t.Fatalf("got %d layers, want 3: %+v", len(layers), layers)
	}
	for _, l := range layers {
		if !slices.Equal(l.Paths, want[l.Name]) {
			t.Errorf("layer %s: paths %v, want %v", l.Name, l.Paths, want[l.Name])
		}
		if l.Group != l.Name || l.Empty {
			t.Errorf("layer %s: group %q empty %v", l.Name, l.Group, l.Empty)
		}
	}
	if layers[2].NarSize != 15 {
		t.Errorf("layer three narSize %d, want 15", layers[2].NarSize)
	}
}

func TestAssignEmptyLayerAndExclude(t *testing.T) {
	g := dedupGraph(t)
	layers, err := Assign(g, []Spec{
		{Name: "base", Roots: []string{p("lib")}},
		{Name: "dup", Roots: []string{p("glibc"), p("lib")}}, // all claimed by base
		{Name: "app", Roots: []string{p("app3")}},
		{Name: "none"}, // no roots at all
	}, Options{Exclude: map[string]bool{p("tool"): true, p("lib"): false}})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{layers[0].Name, layers[1].Name, layers[2].Name, layers[3].Name}; !slices.Equal(got, []string{"base", "dup", "app", "none"}) {
		t.Fatalf("names %v", got)
	}
	for _, i := range []int{1, 3} {
		l := layers[i]
		if !l.Empty || len(l.Paths) != 0 || l.NarSize != 0 || l.Group != l.Name {
			t.Errorf("layer %s should be empty: %+v", l.Name, l)
		}
	}
	if !slices.Equal(layers[0].Paths, ps("lib", "glibc")) { // Exclude[lib]=false does not exclude
		t.Errorf("base: %v", layers[0].Paths)
	}
	if !slices.Equal(layers[2].Paths, ps("app3")) { // tool excluded, lib claimed
		t.Errorf("app: %v", layers[2].Paths)
	}
	if n := TotalLayers(layers); n != 2 {
		t.Errorf("TotalLayers = %d, want 2", n)
	}
}

func TestAssignDeterministicAndRootOrderFree(t *testing.T) {
	g := dedupGraph(t)
	a, err := Assign(g, []Spec{{Name: "x", Roots: []string{p("app1"), p("app3")}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Assign(g, []Spec{{Name: "x", Roots: []string{p("app3"), p("app1"), p("app3")}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(a, b, layerEqual) {
		t.Errorf("root order changed the result:\n%+v\n%+v", a, b)
	}
}

func layerEqual(a, b Layer) bool {
	return a.Name == b.Name && a.Group == b.Group && slices.Equal(a.Paths, b.Paths) &&
		a.NarSize == b.NarSize && a.Empty == b.Empty
}

func infosOf(t testing.TB, g Graph, paths []string) []closure.PathInfo {
	t.Helper()
	out := make([]closure.PathInfo, len(paths))
	for i, x := range paths {
		in, ok := g.Info(x)
		if !ok {
			t.Fatalf("no info for %s", x)
		}
		out[i] = in
	}
	return out
}

func TestAssignValidation(t *testing.T) {
	g := dedupGraph(t)
	cases := []struct {
		name  string
		specs []Spec
		opts  Options
		want  string
	}{
		{"dup name", []Spec{{Name: "a", Roots: []string{p("app1")}}, {Name: "a", Roots: []string{p("app2")}}}, Options{}, `duplicate layer name "a"`},
		{"no name", []Spec{{Roots: []string{p("app1")}}}, Options{}, "has no name"},
		{"two autos", []Spec{{Name: "a", Auto: 2}, {Name: "b", Auto: 2}}, Options{}, "only one auto layer"},
		{"auto roots", []Spec{{Name: "a", Auto: 2, Roots: []string{p("app1")}}}, Options{}, "must not have roots"},
		{"neg size", []Spec{{Name: "a", MaxSize: -1}}, Options{}, "negative max size"},
		{"neg opt size", []Spec{{Name: "a"}}, Options{MaxLayerSize: -5}, "negative max layer size"},
		{"unknown root", []Spec{{Name: "a", Roots: []string{p("nope")}}}, Options{}, p("nope")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Assign(g, c.specs, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	_, err := Assign(g, []Spec{{Name: "a", Roots: []string{p("nope")}}}, Options{})
	var ue *closure.UnknownPathError
	if !errors.As(err, &ue) || ue.Path != p("nope") || !strings.Contains(err.Error(), `layer "a"`) {
		t.Errorf("unknown root: err %v should wrap *closure.UnknownPathError and name the layer", err)
	}
}

func TestBudget(t *testing.T) {
	for _, c := range []struct {
		n          int
		warn, fail bool
	}{{0, false, false}, {100, false, false}, {101, true, false}, {127, true, false}, {128, true, true}, {500, true, true}} {
		warn, err := Budget(c.n)
		if warn != c.warn || (err != nil) != c.fail {
			t.Errorf("Budget(%d) = %v, %v; want warn %v, error %v", c.n, warn, err, c.warn, c.fail)
		}
		var be *BudgetError
		if c.fail && (!errors.As(err, &be) || be.Layers != c.n || !strings.Contains(err.Error(), "127")) {
			t.Errorf("Budget(%d): error %v should be a *BudgetError naming the limit", c.n, err)
		}
	}
}

func TestTooLargeErrorMessage(t *testing.T) {
	g := newBuilder().add("cuda", 12_345_678_901).add("app", 10, "cuda").graph(t)
	_, err := Assign(g, []Spec{{Name: "gpu", Roots: []string{p("app")}}}, Options{})
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("err = %v, want *TooLargeError", err)
	}
	if tl.Path != p("cuda") || tl.Size != 12_345_678_901 || tl.Limit != DefaultMaxLayerSize {
		t.Errorf("fields %+v", tl)
	}
	for _, s := range []string{p("cuda"), "12345678901 bytes", "10000000000 bytes", `layer "gpu"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	// The spec's own MaxSize wins over the options.
	_, err = Assign(g, []Spec{{Name: "gpu", Roots: []string{p("app")}, MaxSize: 20e9}}, Options{MaxLayerSize: 1e9})
	if err != nil {
		t.Errorf("spec max size 20GB should fit cuda: %v", err)
	}
	_, err = Assign(g, []Spec{{Name: "gpu", Roots: []string{p("app")}}}, Options{MaxLayerSize: 1e9})
	if !errors.As(err, &tl) || tl.Limit != 1e9 {
		t.Errorf("options limit: %v", err)
	}
}
