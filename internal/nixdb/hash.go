package nixdb

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// base32Alphabet is Nix's base-32 alphabet (no e, o, u, t).
const base32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// sha256Size is the length in bytes of a SHA-256 digest.
const sha256Size = 32

// EncodeBase32 encodes bytes in Nix's base-32 ("nix32") form, the one used
// in store path hashes and in the ValidPaths.hash column.
func EncodeBase32(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	n := (len(b)*8-1)/5 + 1
	out := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		bit := i * 5
		byteIdx := bit / 8
		shift := uint(bit % 8)
		c := b[byteIdx] >> shift
		if byteIdx+1 < len(b) {
			c |= b[byteIdx+1] << (8 - shift)
		}
		out[n-1-i] = base32Alphabet[c&0x1f]
	}
	return string(out)
}

// DecodeBase32 decodes Nix base-32 into size bytes.
func DecodeBase32(s string, size int) ([]byte, error) {
	if want := (size*8-1)/5 + 1; len(s) != want {
		return nil, fmt.Errorf("nix base-32: length %d, want %d for %d bytes", len(s), want, size)
	}
	out := make([]byte, size)
	n := len(s)
	for i := 0; i < n; i++ {
		ch := s[n-1-i]
		d := strings.IndexByte(base32Alphabet, ch)
		if d < 0 {
			return nil, fmt.Errorf("nix base-32: invalid character %q", ch)
		}
		bit := i * 5
		byteIdx := bit / 8
		shift := uint(bit % 8)
		out[byteIdx] |= byte(d << shift)
		carry := byte(d >> (8 - shift))
		if byteIdx+1 < size {
			out[byteIdx+1] |= carry
		} else if carry != 0 {
			return nil, fmt.Errorf("nix base-32: %q does not fit in %d bytes", s, size)
		}
	}
	return out, nil
}

// NormalizeHash converts a SHA-256 NAR hash in any form Nix prints —
// "sha256:<nix base-32>", "sha256:<hex>", "sha256-<base64>" (SRI) — into
// the "sha256:<nix base-32>" form the Nix database stores.
func NormalizeHash(h string) (string, error) {
	raw, err := decodeSHA256(h)
	if err != nil {
		return "", err
	}
	return "sha256:" + EncodeBase32(raw), nil
}

func decodeSHA256(h string) ([]byte, error) {
	var raw []byte
	var err error
	switch {
	case strings.HasPrefix(h, "sha256-"):
		raw, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "sha256-"))
	case strings.HasPrefix(h, "sha256:"):
		v := strings.TrimPrefix(h, "sha256:")
		switch len(v) {
		case 2 * sha256Size:
			raw, err = hex.DecodeString(v)
		case (sha256Size*8-1)/5 + 1:
			raw, err = DecodeBase32(v, sha256Size)
		case 44: // base64 with the colon separator
			raw, err = base64.StdEncoding.DecodeString(v)
		default:
			err = fmt.Errorf("unrecognised encoding of length %d", len(v))
		}
	default:
		err = fmt.Errorf("not a sha256 hash (want \"sha256:…\" or \"sha256-…\")")
	}
	if err == nil && len(raw) != sha256Size {
		err = fmt.Errorf("decoded to %d bytes, want %d", len(raw), sha256Size)
	}
	if err != nil {
		return nil, fmt.Errorf("NAR hash %q: %w", h, err)
	}
	return raw, nil
}
