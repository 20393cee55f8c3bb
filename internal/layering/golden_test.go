package layering

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

var update = flag.Bool("update", false, "rewrite testdata/layering/golden.json")

const goldenFile = "testdata/layering/golden.json"

// goldenGraph is a small fixed graph with literal store paths and hashes,
// so the golden keys do not depend on any test helper.
func goldenGraph(t *testing.T) *closure.Graph {
	t.Helper()
	mk := func(hash, name string, size int64, refs ...string) closure.PathInfo {
		return closure.PathInfo{
			Path:       "/nix/store/" + hash + "-" + name,
			NarHash:    "sha256:" + name + "-narhash",
			NarSize:    size,
			References: refs,
		}
	}
	const (
		glibc = "/nix/store/00000000000000000000000000000000-glibc-2.39"
		zlib  = "/nix/store/11111111111111111111111111111111-zlib-1.3"
		ssl   = "/nix/store/22222222222222222222222222222222-openssl-3.0"
		py    = "/nix/store/33333333333333333333333333333333-python3-3.12"
		app   = "/nix/store/44444444444444444444444444444444-app-1.0"
		docs  = "/nix/store/55555555555555555555555555555555-app-1.0-doc"
		tool  = "/nix/store/66666666666666666666666666666666-tool-2"
		extra = "/nix/store/77777777777777777777777777777777-extra-0.1"
	)
	g, err := closure.NewGraph([]closure.PathInfo{
		mk("00000000000000000000000000000000", "glibc-2.39", 300, glibc),
		mk("11111111111111111111111111111111", "zlib-1.3", 50, glibc),
		mk("22222222222222222222222222222222", "openssl-3.0", 200, glibc),
		mk("33333333333333333333333333333333", "python3-3.12", 400, glibc, zlib, ssl),
		mk("44444444444444444444444444444444", "app-1.0", 120, py, docs),
		mk("55555555555555555555555555555555", "app-1.0-doc", 90),
		mk("66666666666666666666666666666666", "tool-2", 30, zlib),
		mk("77777777777777777777777777777777", "extra-0.1", 10),
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

type golden struct {
	Layers []Layer `json:"layers"`
}

// TestGolden pins the assignment of a small plan: an accidental change
// shows up as a diff. Regenerate deliberately with
// `go test ./internal/layering -run Golden -update`.
func TestGolden(t *testing.T) {
	g := goldenGraph(t)
	layers, err := Assign(g, []Spec{
		{Name: "base", Roots: []string{"/nix/store/00000000000000000000000000000000-glibc-2.39"}},
		{Name: "python", Roots: []string{"/nix/store/33333333333333333333333333333333-python3-3.12"}, MaxSize: 450},
		{Name: "app", Roots: []string{"/nix/store/44444444444444444444444444444444-app-1.0"}},
		{Name: "again", Roots: []string{"/nix/store/11111111111111111111111111111111-zlib-1.3"}},
		{Name: "rest", Auto: 3},
	}, Options{
		MaxLayerSize: 1000,
		AllRoots: []string{
			"/nix/store/44444444444444444444444444444444-app-1.0",
			"/nix/store/66666666666666666666666666666666-tool-2",
			"/nix/store/77777777777777777777777777777777-extra-0.1",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := golden{
		Layers: layers,
	}
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenFile)
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("layering output differs from %s; if the change is intended, run with -update.\ngot:\n%s", goldenFile, data)
	}
}
