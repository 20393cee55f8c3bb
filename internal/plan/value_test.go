package plan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const nixPlanDir = "testdata/nixplan"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(nixPlanDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseValueFixtures: a valid evaluated plan parses into the expected
// Plan, with deps as store paths or resolved installables and no lines.
func TestParseValueFixtures(t *testing.T) {
	flake := t.TempDir()
	pl, err := ParseValue(".#imagePlan", "imagePlan", flake, readFixture(t, "ok-plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if pl.File != ".#imagePlan" || pl.Attr != "imagePlan" || pl.Dir != flake {
		t.Errorf("File, Attr, Dir = %q, %q, %q", pl.File, pl.Attr, pl.Dir)
	}
	var names []string
	for _, l := range pl.Layers {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"base", "cuda", "app", "rest"}) {
		t.Errorf("layers %v", names)
	}
	cuda := pl.Layers[1]
	wantDeps := []Dep{
		{Raw: ".#cudaToolkit", Kind: Installable, Value: flake + "#cudaToolkit"},
		{Raw: "/nix/store/11111111111111111111111111111111-cuda-12.4/lib", Kind: StorePath,
			Value: "/nix/store/11111111111111111111111111111111-cuda-12.4", Sub: "/lib"},
	}
	if !reflect.DeepEqual(cuda.Deps, wantDeps) {
		t.Errorf("cuda deps = %+v, want %+v", cuda.Deps, wantDeps)
	}
	if cuda.MaxSize != 4_000_000_000 || len(cuda.Perms) != 1 || *cuda.Perms[0].Mode != 0o755 || cuda.Perms[0].Line != 0 {
		t.Errorf("cuda max-size %d, perms %+v", cuda.MaxSize, cuda.Perms)
	}
	if a := pl.Layers[3].Auto; a == nil || a.MaxLayers != 8 || a.Line != 0 {
		t.Errorf("auto = %+v", a)
	}
	if pl.MaxLayerSize != 5_000_000_000 || !pl.NixDB || !pl.Tmp {
		t.Errorf("max-layer-size %d, nix-db %v, tmp %v", pl.MaxLayerSize, pl.NixDB, pl.Tmp)
	}
	if len(pl.Users) != 1 || pl.Users[0] != (User{Name: "app", UID: 1000, GID: 100, Home: "/home/app"}) {
		t.Errorf("users %+v", pl.Users)
	}
	c := pl.Config
	if c.User != "app" || !slices.Equal(c.ExposedPorts, []string{"8188/tcp", "80"}) || c.Labels["version"] != "1.0" || c.Line != 0 {
		t.Errorf("config %+v", c)
	}
	for _, l := range pl.Layers {
		for _, d := range l.Deps {
			if l.Line != 0 || d.Line != 0 {
				t.Errorf("layer %s keeps a line (%d, dep %d): a Nix value has none", l.Name, l.Line, d.Line)
			}
		}
	}
}

// TestParseValueErrors: errors name the installable and the attribute
// path, never a line, and the first problem in document order wins.
func TestParseValueErrors(t *testing.T) {
	tests := []struct {
		file, field, msg string
	}{
		{"bad-dep.json", "layers[3].deps[1]", `dep "/tmp/foo" is neither a store path nor an installable`},
		{"bad-dup-name.json", "layers[1].name", `duplicate layer name "base" (first at imagePlan.layers[0].name)`},
		{"bad-unknown-key.json", "layers[0].maxSize", `unknown key "maxSize" (allowed in layers[0]: name, deps, max-size, perms, auto)`},
		{"bad-version-string.json", "version", "must be the number 1, got a string"},
		{"bad-list.json", "", "must be a mapping, got a list"},
		{"bad-outside.json", "layers[0].deps[0]", "points outside the flake directory"},
		{"bad-first-in-order.json", "layers[0].name", `layer name "Base Layer" may only contain`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := ParseValue(".#imagePlan", "imagePlan", t.TempDir(), readFixture(t, tt.file))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *plan.Error", err, err)
			}
			if pe.File != ".#imagePlan" || pe.Attr != "imagePlan" || pe.Line != 0 || pe.Column != 0 ||
				pe.Field != tt.field || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("got %+v\nwant field %q, message …%s…", *pe, tt.field, tt.msg)
			}
			prefix := ".#imagePlan: " + attrField("imagePlan", tt.field) + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err, prefix)
			}
		})
	}
}

// TestParseValueErrorString pins the format the brief asks for.
func TestParseValueErrorString(t *testing.T) {
	_, err := ParseValue(".#imagePlan", "imagePlan", "/flake", readFixture(t, "bad-dep.json"))
	want := `.#imagePlan: imagePlan.layers[3].deps[1]: dep "/tmp/foo" is neither a store path nor an installable (expected /nix/store/<hash>-<name>[/subpath] or flakeref#attr, e.g. ".#hello" or "nixpkgs#hello")`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

// TestParseValueBadJSON: what is not one JSON value is refused, naming the
// plan.
func TestParseValueBadJSON(t *testing.T) {
	for name, data := range map[string]string{
		"empty":     "",
		"truncated": `{"version":1,"layers":[`,
		"two":       `{"version":1} {}`,
		"deep":      strings.Repeat("[", 100) + strings.Repeat("]", 100),
		"too big":   `"` + strings.Repeat("x", maxPlanSize) + `"`,
	} {
		_, err := ParseValue(".#p", "p", "/flake", []byte(data))
		var pe *Error
		if !errors.As(err, &pe) || pe.Attr != "p" || pe.File != ".#p" || !strings.HasPrefix(err.Error(), ".#p: p: ") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// TestParseValueNoLocalDir: a plan from a flake that is not a local
// directory may not use relative flake refs or host paths; absolute ones
// are fine.
func TestParseValueNoLocalDir(t *testing.T) {
	rel := `{"layers":[{"deps":[".#tool"],"name":"base"}],"version":1}`
	if _, err := ParseValue("github:o/r#p", "p", "", []byte(rel)); err == nil || !strings.Contains(err.Error(), "not a local directory") {
		t.Errorf("relative ref from a remote flake: %v", err)
	}
	graph := `{"closure-graph":"closure.json","layers":[{"deps":["/nix/store/00000000000000000000000000000000-busybox-1.36.1"],"name":"base"}],"version":1}`
	if _, err := ParseValue("github:o/r#p", "p", "", []byte(graph)); err == nil || !strings.Contains(err.Error(), "p.closure-graph: relative path") {
		t.Errorf("relative closure-graph from a remote flake: %v", err)
	}
	abs := `{"layers":[{"deps":["github:o/tools#tool","/abs/flake#x"],"name":"base"}],"version":1}`
	pl, err := ParseValue("github:o/r#p", "p", "", []byte(abs))
	if err != nil || pl.Layers[0].Deps[0].Value != "github:o/tools#tool" || pl.Layers[0].Deps[1].Value != "/abs/flake#x" {
		t.Errorf("absolute refs: %+v %v", pl, err)
	}
}

// TestParseValueSameRulesAsFiles converts every plan fixture of
// testdata/plans node by node into the JSON a Nix evaluation would give
// and checks that ParseValue reaches the same verdict as Parse: the same
// plan for the good ones, the same field and message for the bad ones
// (positions aside). Fixtures that JSON cannot express (YAML syntax
// errors, octal or hex literals) are skipped by name.
func TestParseValueSameRulesAsFiles(t *testing.T) {
	dir := absPlansDir(t)
	files, err := filepath.Glob(filepath.Join(plansDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		js, ok := yamlFileToJSON(data)
		if !ok {
			t.Logf("%s: not expressible as JSON, skipped", filepath.Base(file))
			continue
		}
		compared++
		want, wantErr := Parse(file, data)
		got, gotErr := ParseValue(".#p", "p", dir, js)
		switch {
		case (wantErr == nil) != (gotErr == nil):
			t.Errorf("%s: Parse error %v, ParseValue error %v", filepath.Base(file), wantErr, gotErr)
		case wantErr != nil:
			we, ge := wantErr.(*Error), gotErr.(*Error)
			if we.Field != ge.Field || positionless(we.Msg) != positionless(ge.Msg) {
				t.Errorf("%s:\n Parse      %v\n ParseValue %v", filepath.Base(file), wantErr, gotErr)
			}
		default:
			normalize(want)
			normalize(got)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s: plans differ\n Parse      %+v\n ParseValue %+v", filepath.Base(file), want, got)
			}
		}
	}
	if compared < 30 {
		t.Errorf("only %d fixtures compared", compared)
	}
}

var firstAt = regexp.MustCompile(`\(first at [^)]*\)`)

// positionless drops the position an earlier entry is named by, and what
// the directory is called (plan or flake directory).
func positionless(msg string) string {
	msg = strings.ReplaceAll(msg, "the flake directory", "the plan directory")
	return firstAt.ReplaceAllString(msg, "(first at …)")
}

// normalize clears what legitimately differs between a file and a value:
// the names, the lines and the compiled regexps' identity.
func normalize(pl *Plan) {
	pl.File, pl.Attr = "", ""
	clearLines(pl)
	for _, perms := range append([][]Perm{pl.Perms}, layerPerms(pl)...) {
		for i := range perms {
			perms[i].Regexp = nil
		}
	}
}

func layerPerms(pl *Plan) [][]Perm {
	var out [][]Perm
	for _, l := range pl.Layers {
		out = append(out, l.Perms)
	}
	return out
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// yamlFileToJSON renders a YAML document as JSON text, keeping key order
// (and duplicate keys). ok is false when the document does not parse or a
// scalar has no JSON form.
func yamlFileToJSON(data []byte) ([]byte, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) != 1 {
		return nil, false
	}
	var b strings.Builder
	if !writeJSON(&b, doc.Content[0]) {
		return nil, false
	}
	return []byte(b.String()), true
}

func writeJSON(b *strings.Builder, n *yaml.Node) bool {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k := deref(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return false
			}
			writeString(b, k.Value)
			b.WriteByte(':')
			if !writeJSON(b, n.Content[i+1]) {
				return false
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if !writeJSON(b, c) {
				return false
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			writeString(b, n.Value)
		case "!!int", "!!float":
			if !jsonNumber.MatchString(n.Value) {
				return false
			}
			b.WriteString(n.Value)
		case "!!bool":
			if n.Value != "true" && n.Value != "false" {
				return false
			}
			b.WriteString(n.Value)
		case "!!null":
			b.WriteString("null")
		default:
			return false
		}
	default:
		return false
	}
	return true
}

func writeString(b *strings.Builder, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// FuzzParseValue: ParseValue never panics, and every failure is a *Error
// that names the attribute path and no line.
func FuzzParseValue(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(nixPlanDir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in %s: %v", nixPlanDir, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version":1e400}`))
	f.Add([]byte(`{"version":1,"layers":[{"name":"a","deps":["/nix/store/00000000000000000000000000000000-a"],"name":"a"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := ParseValue(".#p", "p", "/flake", data)
		if err == nil {
			if pl == nil || pl.Attr != "p" {
				t.Fatalf("plan %+v without error", pl)
			}
			return
		}
		var pe *Error
		if !errors.As(err, &pe) || pl != nil {
			t.Fatalf("error %v (%T), plan %v", err, err, pl)
		}
		if pe.Attr != "p" || pe.Line != 0 || pe.Msg == "" || !strings.HasPrefix(err.Error(), ".#p: p") {
			t.Fatalf("error %+v", *pe)
		}
	})
}
