package closure

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/org/nix-layer-action/internal/nixpath"
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
		`[{"path":"/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-a-1.0","narHash":"sha256-A","narSize":1,"references":["0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-a-1.0"]}]`,
		`{"/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-a":{"narHash":"sha256-A","narSize":1,"references":["/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-a"]}}`,
		`{"info":{"0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-.a":{"narHash":"sha256-A","narSize":1,"references":[]}},"storeDir":"/gnu/store","version":2}`,
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
		for _, p := range append([]string{in.Path}, in.References...) {
			if err := nixpath.CheckRecorded(p); err != nil || nixpath.Dir(p) != nixpath.Dir(in.Path) {
				t.Fatalf("parser accepted a store path Nix would not: %q in %+v (%v)", p, in, err)
			}
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
