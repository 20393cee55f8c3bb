package sbom

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/nixpath"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.cdx.json")

func generate(t testing.TB, f fixture, roots []string, opts Options) []byte {
	t.Helper()
	bom, err := Generate(f.g, roots, opts)
	if err != nil {
		t.Fatal(err)
	}
	return encode(t, bom)
}

func TestOutputValidatesAgainstCycloneDXSchema(t *testing.T) {
	sch := cdxSchema(t)
	f := newFixture(t)
	for name, opts := range map[string]Options{
		"full":      testOptions(),
		"no digest": {ImageName: "app"},
		"serial": func() Options {
			o := testOptions()
			o.SerialNumber = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
			return o
		}(),
	} {
		out := generate(t, f, []string{f.app}, opts)
		if err := validate(t, sch, out); err != nil {
			t.Errorf("%s: output does not validate: %v\n%s", name, err, out)
		}
	}
	// The validator is live: a wrong hash algorithm name is refused.
	bad := bytes.Replace(generate(t, f, []string{f.app}, testOptions()), []byte(`"SHA-256"`), []byte(`"SHA256"`), 1)
	if err := validate(t, sch, bad); err == nil {
		t.Fatal("schema accepted hash alg \"SHA256\"")
	}
	// Formats are asserted too: a timestamp must be an RFC 3339 date-time.
	bad = bytes.Replace(generate(t, f, []string{f.app}, testOptions()), []byte(`"2024-05-06T07:08:09Z"`), []byte(`"2024-05-06 07:08"`), 1)
	if err := validate(t, sch, bad); err == nil {
		t.Fatal("schema accepted a non-date-time timestamp")
	}
}

func TestComponentsAreExactlyTheClosure(t *testing.T) {
	f := newFixture(t)
	d := decode(t, generate(t, f, []string{f.app}, testOptions()))
	want, err := f.g.Closure(f.app)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range d.Components {
		got = append(got, c.BOMRef)
		info, _ := f.g.Info(c.BOMRef)
		props := map[string]string{}
		for _, p := range c.Properties {
			props[p.Name] = p.Value
		}
		if props[PropStorePath] != c.BOMRef || props[PropNarSize] != strconv.FormatInt(info.NarSize, 10) {
			t.Errorf("%s: properties %v", c.BOMRef, props)
		}
		if len(c.Hashes) != 1 || c.Hashes[0].Alg != "SHA-256" || c.Hashes[0].Content != hex.EncodeToString(narDigest(c.BOMRef)) {
			t.Errorf("%s: hashes %+v, want SHA-256 %x", c.BOMRef, c.Hashes, narDigest(c.BOMRef))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("components %v\nwant closure %v", got, want)
	}
	if slices.Contains(got, sp("unrelated-9")) {
		t.Fatal("a path outside the closure was listed")
	}
}

func TestDependenciesAreReferences(t *testing.T) {
	f := newFixture(t)
	d := decode(t, generate(t, f, []string{f.app}, testOptions()))
	closurePaths, _ := f.g.Closure(f.app)
	if len(d.Dependencies) != len(closurePaths)+1 {
		t.Fatalf("%d dependency entries, want %d", len(d.Dependencies), len(closurePaths)+1)
	}
	img := d.Dependencies[0]
	if img.Ref != d.Metadata.Component.BOMRef || !reflect.DeepEqual(img.DependsOn, []string{f.app}) {
		t.Fatalf("image dependency = %+v, want %s → [%s]", img, d.Metadata.Component.BOMRef, f.app)
	}
	for _, dep := range d.Dependencies[1:] {
		info, ok := f.g.Info(dep.Ref)
		if !ok {
			t.Fatalf("dependency ref %s is not a graph path", dep.Ref)
		}
		var want []string
		for _, r := range info.References {
			if r != dep.Ref {
				want = append(want, r)
			}
		}
		if !reflect.DeepEqual(dep.DependsOn, want) {
			t.Errorf("%s dependsOn %v, want references %v", dep.Ref, dep.DependsOn, want)
		}
	}
}

func TestNamesVersionsAndPURLs(t *testing.T) {
	f := newFixture(t)
	d := decode(t, generate(t, f, []string{f.app}, testOptions()))
	want := map[string][3]string{ // store path name → name, version, purl
		"my-app-1.0":              {"my-app", "1.0", "pkg:nix/my-app@1.0"},
		"python3.11-numpy-1.26.4": {"python3.11-numpy", "1.26.4", "pkg:nix/python3.11-numpy@1.26.4"},
		"glibc-2.39-52":           {"glibc", "2.39-52", "pkg:nix/glibc@2.39-52"},
		"glibc-2.39-52-bin":       {"glibc", "2.39-52", "pkg:nix/glibc@2.39-52?output=bin"},
		"openssl-3.0.13-dev":      {"openssl", "3.0.13", "pkg:nix/openssl@3.0.13?output=dev"},
		"hello":                   {"hello", "", "pkg:nix/hello"},
	}
	if len(d.Components) != len(want) {
		t.Fatalf("%d components, want %d", len(d.Components), len(want))
	}
	for _, c := range d.Components {
		w, ok := want[c.BOMRef[len("/nix/store/")+33:]]
		if !ok {
			t.Fatalf("unexpected component %s", c.BOMRef)
		}
		if got := [3]string{c.Name, c.Version, c.PURL}; got != w {
			t.Errorf("%s: (name, version, purl) = %q, want %q", c.BOMRef, got, w)
		}
		hasOutput := strings.Contains(w[2], "output=")
		var output string
		for _, p := range c.Properties {
			if p.Name == PropOutput {
				output = p.Value
			}
		}
		if hasOutput != (output != "") || (hasOutput && !strings.HasSuffix(w[2], "output="+output)) {
			t.Errorf("%s: nix:output property %q vs purl %s", c.BOMRef, output, w[2])
		}
	}
}

func TestMetadata(t *testing.T) {
	f := newFixture(t)
	opts := testOptions()
	d := decode(t, generate(t, f, []string{f.app}, opts))
	if d.SpecVersion != "1.6" || d.Metadata.Timestamp != "2024-05-06T07:08:09Z" {
		t.Fatalf("specVersion %q timestamp %q", d.SpecVersion, d.Metadata.Timestamp)
	}
	tools := d.Metadata.Tools.Components
	if len(tools) != 1 || tools[0].Name != "nix-layer-action" || tools[0].Version != "0.9.0" {
		t.Fatalf("tools = %+v", tools)
	}
	img := d.Metadata.Component
	wantPURL := "pkg:oci/app@" + opts.ImageDigest + "?arch=amd64&repository_url=ghcr.io%2Forg%2Fapp&tag=v1.2.3" // packageurl-go percent-encodes "/" in qualifier values
	if img.Type != "container" || img.Name != "ghcr.io/org/app" || img.PURL != wantPURL || img.BOMRef != wantPURL {
		t.Fatalf("image component = %+v, want purl %s", img, wantPURL)
	}
	// Without a digest: no purl, the name is the ref, no timestamp when zero.
	d = decode(t, generate(t, f, []string{f.app}, Options{ImageName: "app"}))
	if d.Metadata.Component.BOMRef != "app" || d.Metadata.Component.PURL != "" || d.Metadata.Timestamp != "" {
		t.Fatalf("minimal metadata = %+v", d.Metadata)
	}
}

func TestSameInputSameBytes(t *testing.T) {
	f := newFixture(t)
	opts := testOptions()
	first := generate(t, f, []string{f.app}, opts)
	if again := generate(t, f, []string{f.app}, opts); !bytes.Equal(first, again) {
		t.Fatal("two runs over the same graph differ")
	}
	// The same graph built from its entries in another order, roots given
	// twice and a local timestamp for the same instant.
	rev := slices.Clone(f.infos)
	slices.Reverse(rev)
	for i := range rev {
		slices.Reverse(rev[i].References)
	}
	g2, err := closure.NewGraph(rev)
	if err != nil {
		t.Fatal(err)
	}
	opts.Timestamp = opts.Timestamp.In(time.FixedZone("x", 5*3600)).Add(300 * time.Millisecond)
	bom, err := Generate(g2, []string{f.app, f.app}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if other := encode(t, bom); !bytes.Equal(first, other) {
		t.Fatalf("reordered input gives other bytes:\n%s\nvs\n%s", first, other)
	}
}

// TestGolden pins the exact bytes, so any change to the output format
// shows up in review (go test -run TestGolden -update to accept one).
func TestGolden(t *testing.T) {
	f := newFixture(t)
	got := generate(t, f, []string{f.app}, testOptions())
	file := filepath.Join("testdata", "golden.cdx.json")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (rerun with -update if intended):\n%s", file, got)
	}
}

func TestGenerateErrors(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		field string
		opts  Options
	}{
		{"ImageName", Options{}},
		{"ImageName", Options{ImageName: "/nix/store/x"}},
		{"ImageDigest", Options{ImageName: "a", ImageDigest: "sha256:ABC"}},
		{"SerialNumber", Options{ImageName: "a", SerialNumber: "3e671687-395b-41f5-a30f-a58921a69b79"}},
	} {
		_, err := Generate(f.g, []string{f.app}, c.opts)
		var oerr *OptionsError
		if !errors.As(err, &oerr) || oerr.Field != c.field {
			t.Errorf("%+v: err = %v, want *OptionsError for %s", c.opts, err, c.field)
		}
	}
	_, err := Generate(f.g, []string{sp("missing-1")}, testOptions())
	var uerr *closure.UnknownPathError
	if !errors.As(err, &uerr) {
		t.Errorf("unknown root: err = %v, want *closure.UnknownPathError", err)
	}

	bad := "/nix/store/not-a-store-path"
	g, _ := closure.NewGraph([]closure.PathInfo{{Path: bad, NarHash: "sha256:" + helloNix32}})
	_, err = Generate(g, []string{bad}, testOptions())
	var perr *nixpath.PathError
	if !errors.As(err, &perr) || perr.Path != bad {
		t.Errorf("bad store path: err = %v, want *nixpath.PathError", err)
	}

	p := sp("x-1")
	g, _ = closure.NewGraph([]closure.PathInfo{{Path: p, NarHash: "md5:5d41402abc4b2a76b9719d911017c592"}})
	_, err = Generate(g, []string{p}, testOptions())
	var herr *NarHashError
	if !errors.As(err, &herr) || herr.Path != p {
		t.Errorf("bad NAR hash: err = %v, want *NarHashError naming %s", err, p)
	}
}

func TestWriteNil(t *testing.T) {
	if err := Write(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("Write(nil) succeeded")
	}
}
