package nixpath

import (
	"strings"
	"testing"
)

const h = "ffffffffffffffffffffffffffffffff" // 32 valid nix-base32 chars

func TestSplit(t *testing.T) {
	tests := []struct {
		dir, s string
		want   bool
	}{
		{"/nix/store", "/nix/store/" + h + "-hello-2.12", true},
		{"/nix/store", "/nix/store/" + h + "-hello-2.12/bin/hello", true},
		{"/nix/store", "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x", true},
		{"/gnu/store", "/gnu/store/" + h + "-x", true},
		{"/nix/store", "/gnu/store/" + h + "-x", false},
		{"/nix/store", "/nix/store/" + h, false},             // no name
		{"/nix/store", "/nix/store/" + h + "-", false},       // empty name
		{"/nix/store", "/nix/store/" + h + "-.hidden", true}, // a dot first: Nix ≥ 2.20 writes these
		{"/nix/store", "/nix/store/" + h + "-.", false},      // "." and ".." are not names
		{"/nix/store", "/nix/store/" + h + "-..", false},
		{"/nix/store", "/nix/store/" + h + "-.-x", false}, // nor a first component "." or ".."
		{"/nix/store", "/nix/store/" + h + "-..-x", false},
		{"/nix/store", "/nix/store/" + strings.Repeat("e", 32) + "-x", false}, // 'e' not in nix base32
		{"/nix/store", "/nix/store/" + h[:31] + "-x", false},                  // hash too short
		{"/nix/store", "/nix/store/" + h + "x-x", false},                      // hash too long
		{"/nix/store", "/nix/store/" + h + "-x/", false},                      // trailing slash
		{"/nix/store", "/nix/store/" + h + "-x/a//b", false},
		{"/nix/store", "/nix/store/" + h + "-x/../y", false},
		{"/nix/store", "/nix/store/" + h + "-x y", false},
		{"/nix/store", "/nix/storex/" + h + "-x", false},
		{"/nix/store", "nix/store/" + h + "-x", false},
		{"/nix/store", "", false},
	}
	for _, tt := range tests {
		if _, _, got := Split(tt.dir, tt.s); got != tt.want {
			t.Errorf("Split(%q, %q) = %v, want %v", tt.dir, tt.s, got, tt.want)
		}
	}
}

func TestIsStorePathAndValid(t *testing.T) {
	p := "/nix/store/" + h + "-hello-2.12"
	if !IsStorePath("/nix/store", p) || IsStorePath("/nix/store", p+"/bin") {
		t.Errorf("IsStorePath: a store path with a subpath is not a store path")
	}
	for s, want := range map[string]bool{
		p:                             true,
		"/gnu/store/" + h + "-x":      true,
		p + "/bin/hello":              false,
		"/" + h + "-x":                false,
		"/nix//store/" + h + "-x":     false,
		"relative/" + h + "-x":        false,
		"/nix/store/" + h[:30] + "-x": false,
	} {
		if got := Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
	if Dir(p) != "/nix/store" || Name(p) != "hello-2.12" || Name("/x/y-z") != "y-z" {
		t.Errorf("Dir/Name: %q %q %q", Dir(p), Name(p), Name("/x/y-z"))
	}
}

func TestParseDrvName(t *testing.T) {
	cases := []struct{ in, name, version string }{
		{"torch-2.9.0", "torch", "2.9.0"},
		{"python3.11-numpy-1.26.4", "python3.11-numpy", "1.26.4"},
		{"glibc-2.39-52", "glibc", "2.39-52"},
		{"foo-bar", "foo-bar", ""},
		{"hello", "hello", ""},
		{"", "", ""},
		{"bash-5.2p26", "bash", "5.2p26"},
		{"openssl-3.0.13-dev", "openssl", "3.0.13-dev"},
		{"python3-3.11.9-env", "python3", "3.11.9-env"},
		{"nix-2.18.1-man", "nix", "2.18.1-man"},
		{"source", "source", ""},
		{"foo-", "foo-", ""},
		{"foo-_bar", "foo", "_bar"}, // like Nix: any non-letter starts the version
		{"hook-2", "hook", "2"},
		{"libX11-1.8.7", "libX11", "1.8.7"},
	}
	for _, c := range cases {
		n, v := ParseDrvName(c.in)
		if n != c.name || v != c.version {
			t.Errorf("ParseDrvName(%q) = %q, %q; want %q, %q", c.in, n, v, c.name, c.version)
		}
	}
}

func TestPackageName(t *testing.T) {
	cases := []struct{ in, name, version string }{
		{"/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-torch-2.9.0", "torch", "2.9.0"},
		{"/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-python3.11-numpy-1.26.4", "python3.11-numpy", "1.26.4"},
		{"0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-glibc-2.39-52", "glibc", "2.39-52"},
		{"/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-foo-bar", "foo-bar", ""},
		{"torch-2.9.0", "torch", "2.9.0"}, // bare name, no hash
		{"/custom/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-hello-2.12.1", "hello", "2.12.1"},
	}
	for _, c := range cases {
		n, v := PackageName(c.in)
		if n != c.name || v != c.version {
			t.Errorf("PackageName(%q) = %q, %q; want %q, %q", c.in, n, v, c.name, c.version)
		}
	}
}

func TestNormalizeHash(t *testing.T) {
	want := "sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic"
	for _, in := range []string{
		"sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", // SRI (nix hash to-sri)
		"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
		want,
	} {
		got, err := NormalizeHash(in)
		if err != nil {
			t.Fatalf("NormalizeHash(%q): %v", in, err)
		}
		if got != want {
			t.Errorf("NormalizeHash(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "md5:abc", "sha256-AAAA", "sha256:xyz"} {
		_, err := NormalizeHash(bad)
		if err == nil || !strings.Contains(err.Error(), "NAR hash") {
			t.Errorf("NormalizeHash(%q) err = %v, want NAR hash error", bad, err)
		}
	}
}

// TestNormalizeHashVectors: pairs produced by `nix hash to-base32` (Nix 2.8).
func TestNormalizeHashVectors(t *testing.T) {
	for hex, nix32 := range map[string]string{
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855": "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824": "094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic",
	} {
		got, err := NormalizeHash("sha256:" + hex)
		if err != nil || got != "sha256:"+nix32 {
			t.Errorf("NormalizeHash(sha256:%s) = %q, %v; want sha256:%s", hex, got, err, nix32)
		}
	}
}

// TestCheckBase: Nix's rules for a store path's base name, the one place
// they are written (the substituter and the closure parser use it).
func TestCheckBase(t *testing.T) {
	const h = "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd"
	for _, ok := range []string{h + "-a", h + "-hello-2.12", h + "-A+b-c._?=", h + "-.hidden", h + "-...", h + "-.x-1", h + "-" + strings.Repeat("x", 211)} {
		if err := CheckBase(ok); err != nil {
			t.Errorf("CheckBase(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{
		h + "-evil 1.0@octocat [pwn](https:evil.example) **bold**", h + "-a@b", h + "-<b>", h + "-a:b",
		h + "-caf\u00e9", h + "-.", h + "-..", h + "-.-x", h + "-..-1.0", h + "-" + strings.Repeat("x", 212), h + "-", h + "-a/b", h + "-a\nb",
		"e" + h[1:] + "-a", h[1:] + "-a", h + "_a", "",
	} {
		if err := CheckBase(bad); err == nil {
			t.Errorf("CheckBase(%q) accepted", bad)
		}
		if err := CheckRecorded("/nix/store/" + bad); err == nil {
			t.Errorf("CheckRecorded(%q) accepted", bad)
		}
	}
}
