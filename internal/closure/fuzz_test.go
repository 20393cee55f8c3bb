package closure

import (
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "closure", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`[]`, `{}`, `null`, `[null]`, `{"/nix/store/a":null}`,
		`{"closure":[{"path":"/nix/store/a","narHash":"h","narSize":1,"references":["a"]}]}`,
		`[{"path":"/nix/store/a","narHash":"h","narSize":1,"references":["/nix/store/a"]}]`,
		`{"/nix/store/a":{"narHash":"h","narSize":1}} x`,
	} {
		f.Add([]byte(s))
	}
}

// checkParsed asserts invariants of successfully parsed infos and runs the
// graph operations on them, which must not panic either.
func checkParsed(t *testing.T, infos []PathInfo) {
	for _, in := range infos {
		if in.Path == "" || in.NarHash == "" || in.NarSize < 0 {
			t.Fatalf("parser accepted an invalid entry: %+v", in)
		}
	}
	g, err := NewGraph(infos)
	if err != nil {
		return
	}
	for _, p := range g.Paths() {
		c, err := g.Closure(p)
		if err != nil || len(c) == 0 {
			t.Fatalf("Closure(%s) = %v, %v", p, c, err)
		}
		g.Referrers(p)
	}
}

func FuzzParsePathInfo(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		infos, err := ParsePathInfo(data)
		if err == nil {
			checkParsed(t, infos)
		}
	})
}

func FuzzParseReferencesGraph(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		infos, err := ParseReferencesGraph(data)
		if err == nil {
			checkParsed(t, infos)
		}
	})
}
