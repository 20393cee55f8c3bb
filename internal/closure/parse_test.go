package closure

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nixBase32ToSRI converts "sha256:<nix base32>" into "sha256-<base64>"
// (test-only; the package keeps hashes as given).
func nixBase32ToSRI(t *testing.T, h string) string {
	t.Helper()
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	s, ok := strings.CutPrefix(h, "sha256:")
	if !ok || len(s) != 52 {
		return h
	}
	out := make([]byte, 32)
	for n := 0; n < len(s); n++ {
		c := s[len(s)-1-n]
		d := strings.IndexByte(alphabet, c)
		if d < 0 {
			t.Fatalf("bad nix base32 char %q in %s", c, h)
		}
		b := n * 5
		i, j := b/8, b%8
		out[i] |= byte(d << j)
		if i+1 < len(out) {
			out[i+1] |= byte(d >> (8 - j))
		}
	}
	return "sha256-" + base64.StdEncoding.EncodeToString(out)
}

// TestRecordedShapesAgree parses the recorded Nix 2.8 path-info array, the
// derived ≥2.19 object form and real exportReferencesGraph output (bare array
// and the structured-attrs file wrapping it under "closure").
func TestRecordedShapesAgree(t *testing.T) {
	arr, err := ParsePathInfo(readTestdata(t, "pathinfo-array.json"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := ParsePathInfo(readTestdata(t, "pathinfo-object.json"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ParseReferencesGraph(readTestdata(t, "refgraph.json"))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := ParseReferencesGraph(readTestdata(t, "refgraph-attrs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(arr) != 8 {
		t.Fatalf("array shape: %d entries, want 8", len(arr))
	}
	if !strings.HasPrefix(arr[0].NarHash, "sha256-") || !strings.HasPrefix(ref[0].NarHash, "sha256:") {
		t.Fatalf("narHash not kept as given: %q / %q", arr[0].NarHash, ref[0].NarHash)
	}
	want := mustGraph(t, arr)
	for name, infos := range map[string][]PathInfo{"object": obj, "refgraph": ref, "refgraph-attrs": wrapped} {
		g := mustGraph(t, infos)
		if !reflect.DeepEqual(g.Paths(), want.Paths()) {
			t.Fatalf("%s: paths %v, want %v", name, g.Paths(), want.Paths())
		}
		for _, p := range want.Paths() {
			a, _ := want.Info(p)
			b, _ := g.Info(p)
			b.NarHash = nixBase32ToSRI(t, b.NarHash)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: %s = %+v, want %+v", name, p, b, a)
			}
		}
	}
	// The recorded closure is the app's: check its structure.
	var app, torch, libshared string
	for _, p := range want.Paths() {
		switch {
		case strings.HasSuffix(p, "-app-1.0"):
			app = p
		case strings.HasSuffix(p, "-torch-2.9.0"):
			torch = p
		case strings.HasSuffix(p, "-libshared-1.0"):
			libshared = p
		}
	}
	c, err := want.Closure(app)
	if err != nil || len(c) != 8 {
		t.Fatalf("closure of app = %v, %v", c, err)
	}
	if r := want.Referrers(torch); len(r) != 3 {
		t.Fatalf("referrers of torch = %v, want the 3 packages", r)
	}
	if r := want.Referrers(libshared); len(r) != 5 {
		t.Fatalf("referrers of libshared = %v, want cuda, torch and 3 packages", r)
	}
}

func mustGraph(t *testing.T, infos []PathInfo) *Graph {
	t.Helper()
	g, err := NewGraph(infos)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParsePathInfoObjectNull(t *testing.T) {
	data := `{"/nix/store/aaaa0000000000000000000000000000-ok":{"narHash":"sha256-x","narSize":1,"references":[]},
	          "/nix/store/bbbb0000000000000000000000000000-gone-1.0":null}`
	_, err := ParsePathInfo([]byte(data))
	var inv *InvalidPathError
	if !errors.As(err, &inv) || inv.Path != "/nix/store/bbbb0000000000000000000000000000-gone-1.0" {
		t.Fatalf("error = %v, want InvalidPathError for bbbb-gone-1.0", err)
	}
	if !strings.Contains(err.Error(), "path '/nix/store/bbbb0000000000000000000000000000-gone-1.0' is not valid") {
		t.Fatalf("message = %q", err)
	}
}

func TestParseVariants(t *testing.T) {
	infos, err := ParsePathInfo([]byte(`{
	  "/nix/store/bbbb0000000000000000000000000000-b": {"narHash":"sha256:0abc","narSize":2,"references":["aaaa0000000000000000000000000000-a","/nix/store/bbbb0000000000000000000000000000-b"],"ca":null},
	  "/nix/store/aaaa0000000000000000000000000000-a": {"path":"/nix/store/aaaa0000000000000000000000000000-a","narHash":"sha256-A","narSize":1,"references":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []PathInfo{
		{Path: "/nix/store/aaaa0000000000000000000000000000-a", NarHash: "sha256-A", NarSize: 1, References: []string{}},
		{Path: "/nix/store/bbbb0000000000000000000000000000-b", NarHash: "sha256:0abc", NarSize: 2, References: []string{"/nix/store/aaaa0000000000000000000000000000-a", "/nix/store/bbbb0000000000000000000000000000-b"}},
	}
	if !reflect.DeepEqual(infos, want) {
		t.Fatalf("got %+v\nwant %+v", infos, want)
	}
	empty, err := ParsePathInfo([]byte(" {} "))
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty object: %v, %v", empty, err)
	}
	single, err := ParseReferencesGraph([]byte(`{"graph":[{"path":"/nix/store/aaaa0000000000000000000000000000-a","narHash":"h","narSize":0,"references":[]}]}`))
	if err != nil || len(single) != 1 {
		t.Fatalf("single-key wrapper: %v, %v", single, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
		refs             bool
	}{
		{"empty", "", "expected an array or an object", false},
		{"garbage", "nope", "expected an array or an object", false},
		{"bad json", `[{"path":`, "path-info JSON", false},
		{"null entry", `[null]`, "entry 0 is null", false},
		{"no path", `[{"narHash":"h","narSize":1}]`, `entry 0 has no "path"`, false},
		{"relative", `[{"path":"x","narHash":"h","narSize":1}]`, "not an absolute store path", false},
		{"missing hash", `[{"path":"/nix/store/a0000000000000000000000000000000-a","narSize":1}]`, "/nix/store/a0000000000000000000000000000000-a: missing narHash", false},
		{"hash object", `[{"path":"/nix/store/a0000000000000000000000000000000-a","narHash":{"x":1},"narSize":1}]`, "narHash is not a string", false},
		{"missing size", `[{"path":"/nix/store/a0000000000000000000000000000000-a","narHash":"h"}]`, "missing narSize", false},
		{"negative size", `[{"path":"/nix/store/a0000000000000000000000000000000-a","narHash":"h","narSize":-4}]`, "negative narSize", false},
		{"invalid", `[{"path":"/nix/store/a0000000000000000000000000000000-a","valid":false}]`, "path '/nix/store/a0000000000000000000000000000000-a' is not valid", false},
		{"empty ref", `[{"path":"/nix/store/a0000000000000000000000000000000-a","narHash":"h","narSize":1,"references":[""]}]`, "empty reference", false},
		{"bad key", `{"closure":[]}`, `key "closure" is not a store path`, false},
		{"dup key", `{"/nix/store/a0000000000000000000000000000000-a":{"narHash":"h","narSize":1},"/nix/store/a0000000000000000000000000000000-a":{"narHash":"h","narSize":1}}`, "duplicate entry for /nix/store/a0000000000000000000000000000000-a", false},
		{"mismatch", `{"/nix/store/a0000000000000000000000000000000-a":{"path":"/nix/store/b0000000000000000000000000000000-b","narHash":"h","narSize":1}}`, "mismatching path", false},
		{"trailing", `{"/nix/store/a0000000000000000000000000000000-a":{"narHash":"h","narSize":1}} {}`, "trailing data", false},
		{"wrapper not array", `{"closure":{}}`, `"closure" is not an array`, true},
		{"wrapper many keys", `{"a":[],"b":[]}`, `no "closure" array`, true},
		{"refs garbage", `7`, "expected an array or an object", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.refs {
				_, err = ParseReferencesGraph([]byte(tc.data))
			} else {
				_, err = ParsePathInfo([]byte(tc.data))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadGraphFile(t *testing.T) {
	for _, name := range []string{"pathinfo-array.json", "pathinfo-object.json", "refgraph.json", "refgraph-attrs.json"} {
		g, err := LoadGraphFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g.Len() != 8 {
			t.Fatalf("%s: %d paths, want 8", name, g.Len())
		}
	}
	dir := t.TempDir()
	dangling := filepath.Join(dir, "dangling.json")
	os.WriteFile(dangling, []byte(`[{"path":"/nix/store/a0000000000000000000000000000000-a","narHash":"h","narSize":1,"references":["/nix/store/b0000000000000000000000000000000-b"]}]`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"closure": 3}`), 0o644)
	for _, f := range []string{dangling, bad, filepath.Join(dir, "missing.json")} {
		_, err := LoadGraphFile(f)
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Fatalf("LoadGraphFile(%s) error = %v, want naming the file", f, err)
		}
	}
}

// Real `nix path-info --json -r` output of one closure from Nix 2.8
// (array), 2.26 and 2.34 (object, --json-format 1) and 2.34's
// --json-format 2 (base names under "info"): the same graph, and for an
// invalid path the same verdict.
func TestPathInfoShapesOfNixVersions(t *testing.T) {
	read := func(name string) []byte { return readTestdata(t, filepath.Join("nix-versions", name)) }
	want, err := ParsePathInfo(read("pathinfo-2.8.json"))
	if err != nil || len(want) != 3 {
		t.Fatalf("2.8: %v, %v", want, err)
	}
	for _, name := range []string{"pathinfo-2.26.json", "pathinfo-2.34.json", "pathinfo-format2-2.34.json"} {
		got, err := ParsePathInfo(read(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n%+v\nwant\n%+v", name, got, want)
		}
	}
	for _, name := range []string{"pathinfo-invalid-2.8.json", "pathinfo-invalid-2.26.json", "pathinfo-invalid-2.34.json", "pathinfo-invalid-format2-2.34.json"} {
		infos, invalid, err := ParsePathInfoValid(read(name))
		if err != nil || len(infos) != 1 || !reflect.DeepEqual(invalid, []string{"/nix/store/00000000000000000000000000000000-missing-1.0"}) {
			t.Errorf("%s: %v %v %v", name, infos, invalid, err)
		}
		var inv *InvalidPathError
		if _, err := ParsePathInfo(read(name)); !errors.As(err, &inv) {
			t.Errorf("%s: ParsePathInfo error %v, want InvalidPathError", name, err)
		}
	}
}

func TestStructuredNarHash(t *testing.T) {
	data := `{"info":{"aaaa0000000000000000000000000000-a":{"narHash":{"algorithm":"sha256","format":"base64","hash":"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="},"narSize":1,"references":["aaaa0000000000000000000000000000-a"]}},"storeDir":"/nix/store","version":2}`
	infos, err := ParsePathInfo([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].Path != "/nix/store/aaaa0000000000000000000000000000-a" || infos[0].NarHash != "sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=" || infos[0].References[0] != "/nix/store/aaaa0000000000000000000000000000-a" {
		t.Errorf("got %+v", infos[0])
	}
}
