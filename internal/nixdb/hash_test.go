package nixdb

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// Pairs produced by `nix hash to-base32` (Nix 2.8) for known digests.
var base32Vectors = []struct{ hex, nix32 string }{
	// sha256("")
	{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"},
	// sha256("hello")
	{"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic"},
	// sha1("hello") (20 bytes: exercises a length that is not a multiple of 5)
	{"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", "9m1skbnr5i43n3yypvda5s65vhfwdx5a"},
}

func TestBase32KnownPairs(t *testing.T) {
	for _, v := range base32Vectors {
		raw, _ := hex.DecodeString(v.hex)
		if got := EncodeBase32(raw); got != v.nix32 {
			t.Errorf("EncodeBase32(%s) = %s, want %s", v.hex, got, v.nix32)
		}
		back, err := DecodeBase32(v.nix32, len(raw))
		if err != nil {
			t.Fatalf("DecodeBase32(%s): %v", v.nix32, err)
		}
		if !bytes.Equal(back, raw) {
			t.Errorf("DecodeBase32(%s) = %x, want %s", v.nix32, back, v.hex)
		}
	}
}

func TestDecodeBase32Rejects(t *testing.T) {
	for _, s := range []string{
		"0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7",  // short
		"emdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", // 'e' not in alphabet
		"zzzqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", // overflows 32 bytes
	} {
		if _, err := DecodeBase32(s, 32); err == nil {
			t.Errorf("DecodeBase32(%q) succeeded, want error", s)
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
