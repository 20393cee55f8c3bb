package layering

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

func TestPopularityHandGraph(t *testing.T) {
	// top → x, y; x → z; y → z; z → glibc (self-ref); lone
	g := newBuilder().
		add("glibc", 1, "glibc").
		add("z", 1, "glibc").
		add("x", 1, "z").
		add("y", 1, "z").
		add("top", 1, "x", "y").
		add("lone", 1).
		graph(t)
	got, err := Popularity(g)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{p("glibc"): 4, p("z"): 3, p("x"): 1, p("y"): 1, p("top"): 0, p("lone"): 0}
	if !maps.Equal(got, want) {
		t.Errorf("popularity %v, want %v", got, want)
	}
}

// A cycle cannot come from Nix, but must not break the computation.
func TestPopularityCycle(t *testing.T) {
	g := newBuilder().
		add("a", 1, "b").
		add("b", 1, "c").
		add("c", 1, "a", "d").
		add("d", 1).
		add("r", 1, "a").
		graph(t)
	got, err := Popularity(g)
	if err != nil {
		t.Fatal(err)
	}
	// a, b, c reach each other and are reached by r: 3 others each.
	want := map[string]int{p("a"): 3, p("b"): 3, p("c"): 3, p("d"): 4, p("r"): 0}
	if !maps.Equal(got, want) {
		t.Errorf("popularity %v, want %v", got, want)
	}
}

// Against a naive per-path reverse search, on random DAGs large enough to
// need several bitset blocks.
func TestPopularityMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for iter, n := range []int{1, 2, 50, 300, 5000} {
		infos := randomInfos(r, n, 100)
		g, err := closure.NewGraph(infos)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Popularity(g)
		if err != nil {
			t.Fatal(err)
		}
		if n > 500 { // naive is quadratic: check a sample
			for i := 0; i < n; i += 97 {
				x := infos[i].Path
				if want := naivePopularity(g, x); got[x] != want {
					t.Fatalf("iter %d: %s: popularity %d, want %d", iter, x, got[x], want)
				}
			}
			continue
		}
		for _, in := range infos {
			if want := naivePopularity(g, in.Path); got[in.Path] != want {
				t.Fatalf("iter %d: %s: popularity %d, want %d", iter, in.Path, got[in.Path], want)
			}
		}
	}
}

func naivePopularity(g *closure.Graph, x string) int {
	seen := map[string]bool{x: true}
	stack := []string{x}
	for len(stack) > 0 {
		y := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, r := range g.Referrers(y) {
			if !seen[r] {
				seen[r] = true
				stack = append(stack, r)
			}
		}
	}
	return len(seen) - 1
}
