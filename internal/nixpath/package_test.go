package nixpath

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/org/nix-layer-action/internal/testutil"
)

// drvNameCases: the first three are Nix's own (src/libexpr/names.cc doc
// comment; tests/unit/libexpr/primops.cc ParseDrvNamePrimOpTest); the
// rest are edge cases, all confirmed against `nix-instantiate --eval` by
// TestParseDrvNameMatchesNix.
var drvNameCases = []struct{ in, name, version string }{
	{"apache-httpd-2.0.48", "apache-httpd", "2.0.48"},
	{"nix-0.12pre12876", "nix", "0.12pre12876"},
	{"a-b-c-1234pre5+git", "a-b-c", "1234pre5+git"},
	{"python3.11-numpy-1.26.4", "python3.11-numpy", "1.26.4"},
	{"glibc-2.39-52", "glibc", "2.39-52"},
	{"glibc-2.39-52-bin", "glibc", "2.39-52-bin"},
	{"openssl-3.0.13-dev", "openssl", "3.0.13-dev"},
	{"hello", "hello", ""},
	{"hello-", "hello-", ""},
	{"source", "source", ""},
	{"foo-bar-baz", "foo-bar-baz", ""},
	{"gcc-1-2", "gcc", "1-2"},
	{"bash--1-2", "bash", "-1-2"},
	{"xvidtune-?1-2", "xvidtune", "?1-2"},
	{"7zip_archiver-0.2", "7zip_archiver", "0.2"},
	{"mpv-unstable-2021-05-03", "mpv-unstable", "2021-05-03"},
	{"gtk+3-3.24.41", "gtk+3", "3.24.41"},
	{"-1.0", "", "1.0"},
	{"", "", ""},
}

func TestParseDrvNameNixCases(t *testing.T) {
	for _, c := range drvNameCases {
		name, version := ParseDrvName(c.in)
		if name != c.name || version != c.version {
			t.Errorf("ParseDrvName(%q) = (%q, %q), want (%q, %q)", c.in, name, version, c.name, c.version)
		}
	}
}

// TestParseDrvNameMatchesNix checks the table against the real
// builtins.parseDrvName (skips without Nix, fails under CI=true).
func TestParseDrvNameMatchesNix(t *testing.T) {
	testutil.Short(t)
	bin := testutil.RequireTool(t, "nix-instantiate")
	ins := make([]string, len(drvNameCases))
	for i, c := range drvNameCases {
		ins[i] = c.in
	}
	data, err := json.Marshal(ins)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "names.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	expr := "map builtins.parseDrvName (builtins.fromJSON (builtins.readFile " + file + "))"
	cmd := exec.Command(bin, "--eval", "--strict", "--json", "--expr", expr)
	cmd.Stderr = nil // Nix warns about build users; only stdout matters
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-instantiate: %v", err)
	}
	var got []struct{ Name, Version string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("nix output %q: %v", out, err)
	}
	if len(got) != len(drvNameCases) {
		t.Fatalf("nix returned %d results for %d names", len(got), len(drvNameCases))
	}
	for i, c := range drvNameCases {
		if got[i].Name != c.name || got[i].Version != c.version {
			t.Errorf("nix parseDrvName %q = (%q, %q); table says (%q, %q)", c.in, got[i].Name, got[i].Version, c.name, c.version)
		}
	}
}

func TestSplitOutput(t *testing.T) {
	for _, c := range []struct{ in, rest, output string }{
		{"3.0.13-dev", "3.0.13", "dev"},
		{"2.39-52-bin", "2.39-52", "bin"},
		{"13.2.0-lib", "13.2.0", "lib"},
		{"5.2p26-man", "5.2p26", "man"},
		{"1.26.4-dist", "1.26.4", "dist"},
		{"2.39-52", "2.39-52", ""},        // ends in a number: no output
		{"1.0-beta", "1.0-beta", ""},      // unknown word stays in the version
		{"1.0-out", "1.0-out", ""},        // "out" is never appended by Nix
		{"-dev", "-dev", ""},              // nothing would be left
		{"dev", "dev", ""},                // no dash
		{"1.2-dev-dev", "1.2-dev", "dev"}, // only the last suffix
		{"", "", ""},
	} {
		rest, output := SplitOutput(c.in)
		if rest != c.rest || output != c.output {
			t.Errorf("SplitOutput(%q) = (%q, %q), want (%q, %q)", c.in, rest, output, c.rest, c.output)
		}
	}
}

func TestParsePackage(t *testing.T) {
	p := sp("glibc-2.39-52-bin")
	got, err := ParsePackage(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Package{StoreHash: p[len("/nix/store/") : len("/nix/store/")+32], Name: "glibc", Version: "2.39-52", Output: "bin"}
	if got != want {
		t.Fatalf("ParsePackage(%s) = %+v, want %+v", p, got, want)
	}
	// Another store directory works the same.
	other := "/opt/store/" + p[len("/nix/store/"):]
	if got2, err := ParsePackage(other); err != nil || got2 != want {
		t.Fatalf("ParsePackage(%s) = %+v, %v", other, got2, err)
	}
	// A versionless name keeps a suffix-like ending.
	if got3, err := ParsePackage(sp("etc-dev")); err != nil || got3.Name != "etc-dev" || got3.Output != "" {
		t.Fatalf("versionless: %+v, %v", got3, err)
	}
}

func TestParsePackageRejects(t *testing.T) {
	good := sp("hello-1.0")
	hash := good[len("/nix/store/") : len("/nix/store/")+32]
	for _, bad := range []string{
		"",
		"hello-1.0",
		hash + "-hello-1.0",                      // relative
		"/nix/store/" + hash,                     // no name
		"/nix/store/" + hash + "-",               // empty name
		"/nix/store/" + hash[:31] + "-hello-1.0", // short hash
		"/nix/store/" + "e" + hash[1:] + "-hello", // 'e' is not nix-base32
		"/nix/store/" + hash + "_hello-1.0",       // no dash after hash
		"/hello",                                  // no store directory
	} {
		_, err := ParsePackage(bad)
		var perr *PathError
		if !errors.As(err, &perr) {
			t.Errorf("ParsePackage(%q) err = %v, want *PathError", bad, err)
		}
	}
}

// sp returns a syntactically valid store path for name, its hash derived
// from name so fixtures are stable.
func sp(name string) string {
	sum := sha256.Sum256([]byte("store path " + name))
	return "/nix/store/" + nixbase32.EncodeToString(sum[:20]) + "-" + name
}
