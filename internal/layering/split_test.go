package layering

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// splitInfos is a random DAG of n paths plus "env", which references all of
// them, so closure(env) is the whole graph.
func splitInfos(r *rand.Rand, n int, maxSize int64) []closure.PathInfo {
	infos := randomInfos(r, n, maxSize)
	return withEnv(infos)
}

func withEnv(infos []closure.PathInfo) []closure.PathInfo {
	out := slices.Clone(infos)
	out = slices.DeleteFunc(out, func(in closure.PathInfo) bool { return in.Path == p("env") })
	env := closure.PathInfo{Path: p("env"), NarHash: narHash("env"), NarSize: 1}
	for _, in := range out {
		env.References = append(env.References, in.Path)
	}
	return append(out, env)
}

func assignOne(t testing.TB, infos []closure.PathInfo, limit int64) []Layer {
	t.Helper()
	g, err := closure.NewGraph(infos)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := Assign(g, []Spec{{Name: "big", Roots: []string{p("env")}}},
		Options{MaxLayerSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	return layers
}

func checkSplit(t *testing.T, g Graph, infos []closure.PathInfo, layers []Layer, limit int64) {
	t.Helper()
	want := map[string]bool{}
	for _, in := range infos {
		want[in.Path] = true
	}
	seen := map[string]string{}
	for i, l := range layers {
		if l.Name != fmt.Sprintf("big-%d", i+1) || l.Group != "big" || l.Empty {
			t.Errorf("part %d: name %q group %q empty %v", i, l.Name, l.Group, l.Empty)
		}
		if l.NarSize > limit {
			t.Errorf("part %s: %d bytes over limit %d", l.Name, l.NarSize, limit)
		}
		if !slices.IsSorted(l.Paths) || len(l.Paths) == 0 {
			t.Errorf("part %s: paths unsorted or empty", l.Name)
		}
		var sum int64
		for _, x := range l.Paths {
			if prev, dup := seen[x]; dup {
				t.Errorf("%s in both %s and %s", x, prev, l.Name)
			}
			seen[x] = l.Name
			if !want[x] {
				t.Errorf("%s in %s is not in the layer", x, l.Name)
			}
			in, _ := g.Info(x)
			sum += in.NarSize
		}
		if sum != l.NarSize {
			t.Errorf("part %s: NarSize %d, paths sum to %d", l.Name, l.NarSize, sum)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("parts hold %d paths, the layer has %d", len(seen), len(want))
	}
}

func TestSplitInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 100 {
		infos := splitInfos(r, 20+r.IntN(300), 1000)
		g, _ := closure.NewGraph(infos)
		var total, biggest int64
		for _, in := range infos {
			total += in.NarSize
			biggest = max(biggest, in.NarSize)
		}
		limit := max(biggest, total/int64(2+r.IntN(20)))
		layers := assignOne(t, infos, limit)
		if len(layers) < 2 {
			t.Fatalf("iter %d: total %d over limit %d not split", iter, total, limit)
		}
		checkSplit(t, g, infos, layers, limit)
		// Each cut leaves ≥ ¼ of its range on each side, so the parts are
		// not much more numerous than needed.
		if need := int((total + limit - 1) / limit); len(layers) > 4*need {
			t.Errorf("iter %d: %d parts for %d bytes at limit %d", iter, len(layers), total, limit)
		}
		if again := assignOne(t, slices.Clone(infos), limit); !slices.EqualFunc(layers, again, layerEqual) {
			t.Fatalf("iter %d: not deterministic", iter)
		}
	}
}

func TestSplitNotNeeded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	infos := splitInfos(r, 50, 100)
	var total int64
	for _, in := range infos {
		total += in.NarSize
	}
	layers := assignOne(t, infos, total) // exactly at the limit: no split
	if len(layers) != 1 || layers[0].Name != "big" || len(layers[0].Paths) != len(infos) {
		t.Errorf("layer at its limit was split: %d layers, first %q", len(layers), layers[0].Name)
	}
}

// rehash gives infos[i] a new store hash and NAR hash (same name and size),
// rewriting references to it.
func rehash(infos []closure.PathInfo, i int, seed string) []closure.PathInfo {
	out := make([]closure.PathInfo, len(infos))
	old := infos[i].Path
	nw := storePath(seed, nixpath.Name(old))
	for j, in := range infos {
		in.References = slices.Clone(in.References)
		for k, r := range in.References {
			if r == old {
				in.References[k] = nw
			}
		}
		out[j] = in
	}
	out[i].Path = nw
	out[i].NarHash = narHash(seed)
	return out
}

// The central stability promise: one package rebuilt with the same size
// changes exactly one part's key.
func TestSplitStableUnderHashChange(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := range 100 {
		infos := splitInfos(r, 100+r.IntN(400), 1000)
		limit := int64(1000 * (5 + r.IntN(60)))
		before := assignOne(t, infos, limit)
		i := r.IntN(len(infos) - 1) // not env
		re := rehash(infos, i, fmt.Sprint("new", iter))
		after := assignOne(t, re, limit)
		if len(after) != len(before) {
			t.Fatalf("iter %d: %d parts became %d", iter, len(before), len(after))
		}
		if n := changedKeys(infos, before, re, after); n != 1 {
			t.Errorf("iter %d: %d part keys changed, want exactly 1", iter, n)
		}
		// Only NarHash changes (e.g. a non-reproducible rebuild).
		mod := slices.Clone(infos)
		mod[i].NarHash = narHash(fmt.Sprint("other", iter))
		if n := changedKeys(infos, before, mod, assignOne(t, mod, limit)); n != 1 {
			t.Errorf("iter %d: narHash change: %d part keys changed, want exactly 1", iter, n)
		}
	}
}

// addPath adds one new package referenced by env that references up to two
// existing paths.
func addPath(r *rand.Rand, infos []closure.PathInfo, seed string, maxSize int64) []closure.PathInfo {
	name := "added-" + seed
	in := closure.PathInfo{Path: storePath(name, name), NarHash: narHash(name), NarSize: 1 + r.Int64N(maxSize)}
	for range r.IntN(3) {
		in.References = append(in.References, infos[r.IntN(len(infos)-1)].Path)
	}
	return withEnv(append(slices.Clone(infos[:len(infos)-1]), in))
}

// stabilityUnderAdd returns how many of trials additions changed exactly
// one part key, using split to assign.
func stabilityUnderAdd(t *testing.T, seed uint64, trials int, split func([]closure.PathInfo, int64) []Layer) (ones, worst int) {
	r := rand.New(rand.NewPCG(seed, seed))
	for iter := range trials {
		infos := splitInfos(r, 300+r.IntN(300), 1000)
		limit := int64(1000 * (20 + r.IntN(60)))
		before := split(infos, limit)
		added := addPath(r, infos, fmt.Sprint(iter), 300)
		after := split(added, limit)
		n := changedKeys(infos, before, added, after)
		if n == 0 {
			t.Fatalf("iter %d: adding a path changed no key", iter)
		}
		if n == 1 {
			ones++
		}
		worst = max(worst, n)
	}
	return ones, worst
}

// Adding a package usually changes one part only. The same measurement on
// first-fit-decreasing packing (the unstable approach) shows the test can
// tell the difference.
func TestSplitStableUnderAddition(t *testing.T) {
	const trials = 200
	ours := func(infos []closure.PathInfo, limit int64) []Layer { return assignOne(t, infos, limit) }
	ones, worst := stabilityUnderAdd(t, 9, trials, ours)
	t.Logf("content-defined split: %d/%d additions changed exactly one part (worst %d)", ones, trials, worst)
	if ones < trials*9/10 {
		t.Errorf("only %d/%d additions changed exactly one part key", ones, trials)
	}
	ffdOnes, ffdWorst := stabilityUnderAdd(t, 9, trials, firstFitDecreasing)
	t.Logf("first-fit-decreasing: %d/%d (worst %d)", ffdOnes, trials, ffdWorst)
	if ffdOnes >= ones {
		t.Errorf("the measurement does not separate a stable split from first-fit-decreasing")
	}
}

// firstFitDecreasing is the unstable baseline: bins by size, largest first.
func firstFitDecreasing(infos []closure.PathInfo, limit int64) []Layer {
	order := slices.Clone(infos)
	slices.SortFunc(order, func(a, b closure.PathInfo) int {
		if a.NarSize != b.NarSize {
			return int(b.NarSize - a.NarSize)
		}
		return strings.Compare(a.Path, b.Path)
	})
	var bins [][]closure.PathInfo
	var sizes []int64
next:
	for _, in := range order {
		for i := range bins {
			if sizes[i]+in.NarSize <= limit {
				bins[i] = append(bins[i], in)
				sizes[i] += in.NarSize
				continue next
			}
		}
		bins = append(bins, []closure.PathInfo{in})
		sizes = append(sizes, in.NarSize)
	}
	out := make([]Layer, len(bins))
	for i, b := range bins {
		out[i] = Layer{Name: fmt.Sprint(i), Paths: pathsOf(b)}
	}
	return out
}

func TestSplitTooLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	infos := splitInfos(r, 50, 100)
	infos[3].NarSize = 5000
	infos[7].NarSize = 5000 // same size: the smaller path is named
	g, _ := closure.NewGraph(infos)
	_, err := Assign(g, []Spec{{Name: "big", Roots: []string{p("env")}}}, Options{MaxLayerSize: 1000})
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("err = %v, want *TooLargeError", err)
	}
	if want := min(infos[3].Path, infos[7].Path); tl.Path != want || tl.Size != 5000 || tl.Limit != 1000 {
		t.Errorf("got %+v, want path %s size 5000 limit 1000", tl, want)
	}
	if !strings.Contains(err.Error(), "5000 bytes") || !strings.Contains(err.Error(), tl.Path) {
		t.Errorf("message %q should name the path and its size", err)
	}
}

// Part numbering follows popularity: the part holding glibc (reached by
// everything) is "-1", and parts come in descending order of their most
// popular path.
func TestSplitNumberedByPopularity(t *testing.T) {
	b := newBuilder().add("glibc", 400).add("zlib", 400, "glibc")
	var roots []string
	for i := range 8 {
		n := fmt.Sprintf("app%d", i)
		b.add(n, 300, "zlib")
		roots = append(roots, n)
	}
	b.add("env", 1, roots...)
	g := b.graph(t)
	layers, err := Assign(g, []Spec{{Name: "big", Roots: []string{p("env")}}},
		Options{MaxLayerSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	checkSplit(t, g, b.infos, layers, 1000)
	if len(layers) < 3 || !slices.Contains(layers[0].Paths, p("glibc")) {
		t.Fatalf("part 1 should hold glibc: %+v", layers)
	}
	pop, _ := Popularity(g)
	prev := 1 << 30
	for _, l := range layers {
		top := 0
		for _, x := range l.Paths {
			top = max(top, pop[x])
		}
		if top > prev {
			t.Errorf("part %s (top popularity %d) comes after a part with top %d", l.Name, top, prev)
		}
		prev = top
	}
}
