package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

// sha256("hello") in every spelling; the nix-base32 and SRI forms were
// produced by Nix 2.8 (`nix hash to-base32` / `to-sri`) and map back with
// `nix hash to-base16`.
const (
	helloHex   = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	helloNix32 = "094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic"
	helloSRI   = "sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
)

func TestNarHashHexKnownValue(t *testing.T) {
	for _, in := range []string{
		"sha256:" + helloNix32,
		helloSRI,
		"sha256:" + helloHex,
	} {
		got, err := NarHashHex(in)
		if err != nil {
			t.Fatalf("NarHashHex(%q): %v", in, err)
		}
		if got != helloHex {
			t.Errorf("NarHashHex(%q) = %s, want %s", in, got, helloHex)
		}
	}
}

func TestNarHashHexRejects(t *testing.T) {
	for _, bad := range []string{
		"",
		"sha256:",
		"sha256:xyz",
		"sha256:" + helloNix32[1:],             // short
		"sha256:e" + helloNix32[1:],            // 'e' is not nix-base32
		"sha256-" + helloHex,                   // SRI must be base64
		"md5:5d41402abc4b2a76b9719d911017c592", // not SHA-256
		"sha512-" + strings.Repeat("A", 86) + "==",
		"sha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
		helloNix32, // bare: Nix always names the algorithm
		helloHex,
	} {
		_, err := NarHashHex(bad)
		var herr *NarHashError
		if !errors.As(err, &herr) || herr.NarHash != bad {
			t.Errorf("NarHashHex(%q) err = %v, want *NarHashError", bad, err)
		}
	}
}

// TestNarHashHexMatchesNix lets Nix spell digests in nix-base32 and SRI
// and checks NarHashHex maps both back to the hex Nix started from.
func TestNarHashHexMatchesNix(t *testing.T) {
	testutil.Short(t)
	nix := testutil.RequireTool(t, "nix")
	var hexes, args []string
	for _, s := range []string{"", "a", "nix-layer-action", "\x00\xff"} {
		sum := sha256.Sum256([]byte(s))
		h := hex.EncodeToString(sum[:])
		hexes = append(hexes, h)
		args = append(args, "sha256:"+h)
	}
	for _, to := range []string{"to-base32", "to-sri"} {
		cmd := exec.Command(nix, append([]string{"--extra-experimental-features", "nix-command", "hash", to}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("nix hash %s: %v", to, err)
		}
		lines := strings.Fields(string(out))
		if len(lines) != len(hexes) {
			t.Fatalf("nix hash %s printed %q", to, out)
		}
		for i, spelled := range lines {
			if to == "to-base32" {
				spelled = "sha256:" + spelled
			}
			got, err := NarHashHex(spelled)
			if err != nil || got != hexes[i] {
				t.Errorf("NarHashHex(%q) = %s, %v; nix says %s", spelled, got, err, hexes[i])
			}
		}
	}
}
