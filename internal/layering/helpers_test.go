package layering

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

const nixBase32 = "0123456789abcdfghijklmnpqrsvwxyz"

// storePath returns a well-formed store path for name whose 32-char hash is
// derived from seed.
func storePath(seed, name string) string {
	sum := sha256.Sum256([]byte(seed))
	h := make([]byte, 32)
	for i := range h {
		h[i] = nixBase32[sum[i]%32]
	}
	return "/nix/store/" + string(h) + "-" + name
}

func narHash(seed string) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("nar "+seed)))
}

// builder makes small graphs by name: paths are storePath(name, name).
type builder struct {
	infos []closure.PathInfo
	byN   map[string]int
}

func newBuilder() *builder { return &builder{byN: map[string]int{}} }

// add adds name with size referencing refs (names added earlier or later).
func (b *builder) add(name string, size int64, refs ...string) *builder {
	b.byN[name] = len(b.infos)
	rs := make([]string, len(refs))
	for i, r := range refs {
		rs[i] = storePath(r, r)
	}
	b.infos = append(b.infos, closure.PathInfo{Path: storePath(name, name), NarHash: narHash(name), NarSize: size, References: rs})
	return b
}

func (b *builder) graph(t testing.TB) *closure.Graph {
	t.Helper()
	g, err := closure.NewGraph(b.infos)
	if err != nil {
		t.Fatalf("NewGraph: %v", err)
	}
	return g
}

func p(name string) string { return storePath(name, name) }

func ps(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p(n)
	}
	slices.Sort(out)
	return out
}

// randomInfos builds a random DAG of n paths: path i references a few paths
// with a higher index, sizes 1..maxSize. Names are unique.
func randomInfos(r *rand.Rand, n int, maxSize int64) []closure.PathInfo {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("pkg%d-%d.%d", i, r.IntN(5), r.IntN(10))
	}
	infos := make([]closure.PathInfo, n)
	for i := range infos {
		var refs []string
		if i < n-1 {
			for range r.IntN(4) {
				j := i + 1 + r.IntN(min(n-i-1, 30))
				refs = append(refs, storePath(names[j], names[j]))
			}
			if r.IntN(3) == 0 {
				refs = append(refs, storePath(names[i], names[i])) // self-reference
			}
		}
		infos[i] = closure.PathInfo{
			Path:       storePath(names[i], names[i]),
			NarHash:    narHash(names[i]),
			NarSize:    1 + r.Int64N(maxSize),
			References: refs,
		}
	}
	return infos
}

// refClosure is an independent closure oracle for the tests.
func refClosure(infos []closure.PathInfo, roots []string) map[string]bool {
	by := map[string]closure.PathInfo{}
	for _, in := range infos {
		by[in.Path] = in
	}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(x string) {
		if seen[x] {
			return
		}
		seen[x] = true
		for _, r := range by[x].References {
			walk(r)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return seen
}

// contentsOf identifies each non-empty layer by its paths and their NAR
// hashes: what its key is made of.
func contentsOf(layers []Layer, infos []closure.PathInfo) map[string]bool {
	hash := map[string]string{}
	for _, in := range infos {
		hash[in.Path] = in.NarHash
	}
	m := map[string]bool{}
	for _, l := range layers {
		if l.Empty {
			continue
		}
		var b strings.Builder
		for _, p := range l.Paths {
			b.WriteString(p + " " + hash[p] + "\n")
		}
		m[b.String()] = true
	}
	return m
}

func pathsOf(infos []closure.PathInfo) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Path
	}
	slices.Sort(out)
	return out
}

// changedKeys counts layers of after whose contents before does not have
// (the layers whose key changes).
func changedKeys(bi []closure.PathInfo, before []Layer, ai []closure.PathInfo, after []Layer) int {
	old := contentsOf(before, bi)
	n := 0
	for k := range contentsOf(after, ai) {
		if !old[k] {
			n++
		}
	}
	return n
}
