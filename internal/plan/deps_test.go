package plan

import (
	"reflect"
	"strings"
	"testing"
)

const h = "ffffffffffffffffffffffffffffffff" // 32 valid nix-base32 chars

// TestDeps checks dep classification and relative flake ref resolution
// against the plan directory /proj/sub.
func TestDeps(t *testing.T) {
	tests := []struct {
		raw          string
		allowOutside bool
		kind         DepKind
		value        string
		err          string // substring; "" = valid
	}{
		{raw: "/nix/store/" + h + "-a/bin", kind: StorePath, value: "/nix/store/" + h + "-a"},
		{raw: ".#a", kind: Installable, value: "/proj/sub#a"},
		{raw: "./#a", kind: Installable, value: "/proj/sub#a"},
		{raw: "./flake#a.b", kind: Installable, value: "/proj/sub/flake#a.b"},
		{raw: "./x/../y#a", kind: Installable, value: "/proj/sub/y#a"},
		{raw: ".?dir=x#a", kind: Installable, value: "/proj/sub?dir=x#a"},
		{raw: "path:./x#y", kind: Installable, value: "path:/proj/sub/x#y"},
		{raw: "path:.#y", kind: Installable, value: "path:/proj/sub#y"},
		{raw: "path:/abs/f#y", kind: Installable, value: "path:/abs/f#y"},
		{raw: "/abs/flake#attr", kind: Installable, value: "/abs/flake#attr"},
		{raw: "nixpkgs#hello", kind: Installable, value: "nixpkgs#hello"},
		{raw: "nixpkgs/nixos-24.05#hello", kind: Installable, value: "nixpkgs/nixos-24.05#hello"},
		{raw: "github:o/r#x", kind: Installable, value: "github:o/r#x"},
		{raw: "git+https://example.com/r.git?ref=main#x", kind: Installable, value: "git+https://example.com/r.git?ref=main#x"},
		{raw: "/nix/store/" + h + "-src#pkg", kind: Installable, value: "/nix/store/" + h + "-src#pkg"},
		{raw: "..#a", err: "allow-outside-workspace: true"},
		{raw: "../x#a", err: "points outside the plan directory /proj/sub"},
		{raw: "./a/../../x#a", err: "points outside"},
		{raw: "path:../x#a", err: "points outside"},
		{raw: "../x#a", allowOutside: true, kind: Installable, value: "/proj/x#a"},
		{raw: "path:../../x#a", allowOutside: true, kind: Installable, value: "path:/x#a"},
		{raw: "", err: "is neither a store path nor an installable"},
		{raw: "/tmp/foo", err: "is neither a store path nor an installable"},
		{raw: "./result", err: "is neither a store path nor an installable"},
		{raw: "result/bin", err: "is neither a store path nor an installable"},
		{raw: "nixpkgs#", err: "attribute after '#' is empty"},
		{raw: "#hello", err: "is neither"},
		{raw: "nix pkgs#a", err: "whitespace"},
		{raw: "foo bar", err: "whitespace"},
		{raw: "1pkgs#a", err: "neither a path"},
		{raw: "a//b#x", err: "neither a path"},
		{raw: "Git:x#a", err: "not a valid URL-like"},
		{raw: "github:#a", err: "not a valid URL-like"},
		{raw: "path:#a", err: "empty path"},
		{raw: "/abs/../x#a", err: "not clean"},
	}
	for _, tt := range tests {
		p := &parser{dir: "/proj/sub", storeDir: DefaultStoreDir, allowOutside: tt.allowOutside}
		d, msg := p.parseDep(tt.raw, 7)
		if tt.err != "" {
			if !strings.Contains(msg, tt.err) {
				t.Errorf("parseDep(%q) = %+v, %q; want error containing %q", tt.raw, d, msg, tt.err)
			}
			continue
		}
		want := Dep{Raw: tt.raw, Kind: tt.kind, Value: tt.value, Line: 7}
		if tt.kind == StorePath {
			want.Sub = strings.TrimPrefix(tt.raw, tt.value)
		}
		if msg != "" || !reflect.DeepEqual(d, want) {
			t.Errorf("parseDep(%q) = %+v, %q; want %+v", tt.raw, d, msg, want)
		}
	}
}

func TestConfigStorePaths(t *testing.T) {
	a := "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0"
	b := "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-coreutils-9.4"
	c := "/nix/store/cccccccccccccccccccccccccccccccc-cacert"
	d := "/nix/store/dddddddddddddddddddddddddddddddd-sh"
	tests := []struct {
		name     string
		storeDir string
		cfg      Config
		want     []string
	}{
		{"empty", "", Config{}, []string{}},
		{"entrypoint subpath", "/nix/store", Config{Entrypoint: []string{a + "/bin/app"}}, []string{a}},
		{"path with several", "/nix/store", Config{Env: []string{"PATH=" + b + "/bin:" + a + "/bin:/usr/bin"}}, []string{a, b}},
		{"dedup and sort", "/nix/store", Config{
			Entrypoint: []string{d + "/bin/sh", "-c"},
			Cmd:        []string{"exec " + a + "/bin/app --ca=" + c + "/etc/ssl/certs/ca.crt", a},
			Env:        []string{"SSL_CERT_FILE=" + c + "/etc/ssl/certs/ca-bundle.crt"},
		}, []string{a, c, d}},
		{"quoted", "/nix/store", Config{Cmd: []string{`--config="` + a + `/share/x.json"`}}, []string{a}},
		{"not a store path", "/nix/store", Config{Cmd: []string{
			"/nix/store/short-x",                       // bad hash
			"/x/nix/store/" + h + "-inside-other-path", // not at a path start
			"/nix/store/" + h,                          // no name
		}}, []string{}},
		{"working dir and labels ignored", "/nix/store", Config{WorkingDir: a, Labels: map[string]string{"x": b}}, []string{}},
		{"custom store dir", "/gnu/store", Config{Cmd: []string{"/gnu/store/" + h + "-guile/bin/guile", a}}, []string{"/gnu/store/" + h + "-guile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Plan{StoreDir: tt.storeDir, Config: tt.cfg}
			got := p.ConfigStorePaths()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
