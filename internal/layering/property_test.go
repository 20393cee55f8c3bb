package layering

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

// TestAssignProperties checks Assign against an independent closure oracle
// on many random DAGs and plans (fixed seed):
//   - every path of the image's closure, minus Exclude, is in exactly one
//     layer, and nothing else is;
//   - a path of group i is in closure(roots_i) and in no earlier closure;
//     every path of closure(roots_i) sits in group i or an earlier one;
//   - sizes, sorting, keys and Empty are consistent; the auto entry makes at
//     most N layers and leaves later specs' closures alone;
//   - the result does not depend on the order of roots.
func TestAssignProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 4242))
	const iterations = 400
	autoRuns := 0
	for iter := range iterations {
		infos := randomInfos(r, 5+r.IntN(150), 100)
		g, err := closure.NewGraph(infos)
		if err != nil {
			t.Fatal(err)
		}
		pick := func() []string {
			var roots []string
			for range r.IntN(4) {
				roots = append(roots, infos[r.IntN(len(infos))].Path)
			}
			return roots
		}
		nspecs := 1 + r.IntN(6)
		autoAt := -1
		if r.IntN(3) == 0 {
			autoAt = r.IntN(nspecs)
			if autoAt < nspecs-2 {
				autoAt = nspecs - 1 // auto last, or followed by one spec (like root)
			}
		}
		var specs []Spec
		var allRoots []string
		for i := range nspecs {
			s := Spec{Name: fmt.Sprintf("l%d", i)}
			if i == autoAt {
				s.Auto = 1 + r.IntN(6)
			} else {
				s.Roots = pick()
				allRoots = append(allRoots, s.Roots...)
			}
			if r.IntN(4) == 0 {
				s.MaxSize = 100 + r.Int64N(500)
			}
			specs = append(specs, s)
		}
		allRoots = append(allRoots, pick()...)
		exclude := map[string]bool{}
		for range r.IntN(5) {
			exclude[infos[r.IntN(len(infos))].Path] = true
		}
		opts := Options{MaxLayerSize: 200 + r.Int64N(2000), Exclude: exclude, AllRoots: allRoots}

		layers, err := Assign(g, specs, opts)
		var tl *TooLargeError
		var ae *AutoLimitError
		if errors.As(err, &tl) || errors.As(err, &ae) {
			continue // sizes 1..100 under limits ≥ 100: only auto can run out of layers
		}
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		if autoAt >= 0 {
			autoRuns++
		}
		checkProperties(t, iter, infos, g, specs, opts, layers)

		// Shuffled roots give the same layers.
		shuffled := slices.Clone(specs)
		for i := range shuffled {
			shuffled[i].Roots = slices.Clone(shuffled[i].Roots)
			r.Shuffle(len(shuffled[i].Roots), func(a, b int) {
				shuffled[i].Roots[a], shuffled[i].Roots[b] = shuffled[i].Roots[b], shuffled[i].Roots[a]
			})
		}
		again, err := Assign(g, shuffled, opts)
		if err != nil || !slices.EqualFunc(layers, again, layerEqual) {
			t.Fatalf("iter %d: shuffled roots changed the result (err %v)", iter, err)
		}
	}
	if autoRuns < 50 {
		t.Errorf("only %d iterations exercised auto", autoRuns)
	}
}

func checkProperties(t *testing.T, iter int, infos []closure.PathInfo, g Graph, specs []Spec, opts Options, layers []Layer) {
	t.Helper()
	groupOf := map[string]int{} // spec index by name
	for i, s := range specs {
		groupOf[s.Name] = i
	}
	limitOf := func(s Spec) int64 {
		if s.MaxSize > 0 {
			return s.MaxSize
		}
		return opts.MaxLayerSize
	}
	where := map[string]int{} // path → spec index
	perGroup := map[int]int{}
	lastGroup := -1
	for _, l := range layers {
		gi, ok := groupOf[l.Group]
		if !ok || gi < lastGroup {
			t.Fatalf("iter %d: layer %s has group %q out of order", iter, l.Name, l.Group)
		}
		lastGroup = gi
		perGroup[gi]++
		s := specs[gi]
		if l.Empty {
			if len(l.Paths) != 0 || l.NarSize != 0 || l.Name != s.Name {
				t.Errorf("iter %d: empty layer %+v", iter, l)
			}
			continue
		}
		if len(l.Paths) == 0 || !slices.IsSorted(l.Paths) {
			t.Errorf("iter %d: layer %s paths empty or unsorted", iter, l.Name)
		}
		if l.NarSize > limitOf(s) {
			t.Errorf("iter %d: layer %s: %d bytes over limit %d", iter, l.Name, l.NarSize, limitOf(s))
		}
		var sum int64
		for _, x := range l.Paths {
			if prev, dup := where[x]; dup {
				t.Errorf("iter %d: %s in group %d and %d", iter, x, prev, gi)
			}
			where[x] = gi
			in, _ := g.Info(x)
			sum += in.NarSize
		}
		if sum != l.NarSize {
			t.Errorf("iter %d: layer %s NarSize %d, want %d", iter, l.Name, l.NarSize, sum)
		}
	}
	// The oracle.
	universe := map[string]bool{}
	for i, s := range specs {
		if perGroup[i] == 0 {
			t.Errorf("iter %d: spec %s produced no layer (not even an empty one)", iter, s.Name)
		}
		roots := s.Roots
		if s.Auto > 0 {
			roots = opts.AllRoots
			if perGroup[i] > s.Auto {
				t.Errorf("iter %d: auto made %d layers, max %d", iter, perGroup[i], s.Auto)
			}
		}
		cl := refClosure(infos, roots)
		var later map[string]bool // auto leaves later specs' closures to them
		if s.Auto > 0 {
			var lr []string
			for _, l := range specs[i+1:] {
				lr = append(lr, l.Roots...)
			}
			later = refClosure(infos, lr)
		}
		for x := range cl {
			if opts.Exclude[x] {
				continue
			}
			universe[x] = true
			if later[x] {
				continue
			}
			if gi, ok := where[x]; !ok || gi > i {
				t.Errorf("iter %d: %s of closure(%s) is in group %d (placed %v)", iter, x, s.Name, gi, ok)
			}
		}
		for x, gi := range where {
			if gi == i && s.Auto == 0 && !cl[x] {
				t.Errorf("iter %d: %s in %s is outside its closure", iter, x, s.Name)
			}
			if gi > i && s.Auto == 0 && cl[x] {
				t.Errorf("iter %d: %s in group %d is also in earlier closure %s", iter, x, gi, s.Name)
			}
			if gi < i && s.Auto == 0 && specs[gi].Auto > 0 && cl[x] {
				t.Errorf("iter %d: auto took %s from later spec %s", iter, x, s.Name)
			}
		}
	}
	for x := range where {
		if !universe[x] || opts.Exclude[x] {
			t.Errorf("iter %d: %s placed but not wanted (excluded %v)", iter, x, opts.Exclude[x])
		}
	}
	if len(where) != len(universe) {
		t.Errorf("iter %d: %d paths placed, %d wanted", iter, len(where), len(universe))
	}
}
