// Package nixpath holds the rules for Nix store paths and NAR hashes that
// every other package relies on: what a store path is, how its name splits
// into package name and version, and the one canonical spelling of a NAR
// hash. It is pure (no I/O) and builds on go-nix's nixbase32 and nixhash.
package nixpath

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// DefaultStoreDir is the store directory Nix uses unless configured
// otherwise.
const DefaultStoreDir = "/nix/store"

// HashLen is the length of the nix-base32 hash part of a store path name.
const HashLen = 32

// maxNameLen is the longest name Nix accepts after the hash part.
const maxNameLen = 211

// badDots reports whether a store path name is "." or "..", or its first
// dash-separated component is: the names Nix refuses for their dots.
func badDots(name string) bool {
	first, _, _ := strings.Cut(name, "-")
	return first == "." || first == ".."
}

// isNameChar reports whether c may appear in a store path name.
func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+-._?=", c) >= 0
}

// Len returns the length of the store path <storeDir>/<hash>-<name> at the
// start of s, or 0 when s does not start with one. The name runs to the
// first character that cannot be part of a name.
func Len(storeDir, s string) int {
	if !strings.HasPrefix(s, storeDir) || len(s) <= len(storeDir) || s[len(storeDir)] != '/' {
		return 0
	}
	i := len(storeDir) + 1
	if len(s) < i+HashLen+2 {
		return 0
	}
	for j := i; j < i+HashLen; j++ {
		if !nixbase32.Is(s[j]) {
			return 0
		}
	}
	i += HashLen
	if s[i] != '-' {
		return 0
	}
	i++
	start := i
	for i < len(s) && isNameChar(s[i]) {
		i++
	}
	if i == start || i-start > maxNameLen || badDots(s[start:i]) {
		return 0
	}
	return i
}

// Split splits s into its store path <storeDir>/<hash>-<name> and the
// subpath after it ("" or "/…"). ok is false when s is not a store path
// optionally followed by a clean subpath (no empty, "." or ".." segments,
// no trailing slash, no NUL or newline).
func Split(storeDir, s string) (storePath, sub string, ok bool) {
	n := Len(storeDir, s)
	if n == 0 {
		return "", "", false
	}
	sub = s[n:]
	if sub != "" {
		if sub[0] != '/' {
			return "", "", false
		}
		for _, seg := range strings.Split(sub[1:], "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\x00\n") {
				return "", "", false
			}
		}
	}
	return s[:n], sub, true
}

// IsStorePath reports whether s is exactly a store path
// <storeDir>/<hash>-<name>, with no subpath.
func IsStorePath(storeDir, s string) bool { return Check(storeDir, s) == nil }

// Check returns nil when s is exactly a store path <storeDir>/<hash>-<name>,
// and otherwise an error saying what is wrong with it.
func Check(storeDir, s string) error {
	base, ok := strings.CutPrefix(s, storeDir+"/")
	if !ok || strings.Contains(base, "/") {
		return fmt.Errorf("%q is not a store path directly under %s", s, storeDir)
	}
	if err := CheckBase(base); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	return nil
}

// CheckBase returns nil when base is the base name <hash>-<name> of a
// store path as Nix accepts it (libstore's checkName): a HashLen-character
// nix-base32 hash, a dash, and a name of 1 to 211 characters from A-Z a-z
// 0-9 + - . _ ? = that is not "." or ".." and whose first dash-separated
// component is not "." or "..". (Nix before 2.20 refused every name
// starting with a dot; later versions write such paths, so they are
// accepted.) Otherwise it says what is wrong.
func CheckBase(base string) error {
	if len(base) < HashLen+2 || base[HashLen] != '-' {
		return fmt.Errorf("a store path name is <%d-character hash>-<name>", HashLen)
	}
	for i := 0; i < HashLen; i++ {
		if !nixbase32.Is(base[i]) {
			return fmt.Errorf("invalid character %q in the store path hash", base[i])
		}
	}
	name := base[HashLen+1:]
	switch {
	case len(name) > maxNameLen:
		return fmt.Errorf("store path name longer than %d characters", maxNameLen)
	case badDots(name):
		return errors.New(`store path name is "." or "..", or starts with ".-" or "..-"`)
	}
	for _, r := range name {
		if r >= utf8.RuneSelf || !isNameChar(byte(r)) {
			return fmt.Errorf("invalid character %q in the store path name (Nix allows A-Z a-z 0-9 and + - . _ ? =)", r)
		}
	}
	return nil
}

// Valid reports whether p is a store path in the store directory it names
// itself (everything before its last "/"): the check for paths recorded by
// someone else, whose store directory is not known in advance.
func Valid(p string) bool { return CheckRecorded(p) == nil }

// CheckRecorded is Valid with the reason: nil when p is a store path in
// the store directory it names itself (an absolute, clean directory other
// than "/").
func CheckRecorded(p string) error {
	dir := path.Dir(p)
	if !strings.HasPrefix(dir, "/") || dir == "/" || path.Clean(dir) != dir {
		return fmt.Errorf("%q is not an absolute store path", p)
	}
	return Check(dir, p)
}

// Dir returns the store directory of store path p ("/nix/store").
func Dir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return ""
}

// Name returns the name of store path p without its hash part
// ("/nix/store/<hash>-hello-2.12" → "hello-2.12"). Anything not shaped like
// a store path is returned as its base name.
func Name(p string) string {
	b := path.Base(p)
	if len(b) > HashLen+1 && b[HashLen] == '-' && nixbase32.ValidateString(b[:HashLen]) == nil {
		return b[HashLen+1:]
	}
	return b
}

// ParseDrvName splits s exactly as Nix's builtins.parseDrvName does: the
// name is everything before the first '-' that is followed by a character
// other than an ASCII letter, and the version is everything after that
// dash ("python3.11-numpy-1.26.4" → "python3.11-numpy", "1.26.4";
// "glibc-2.39-52" → "glibc", "2.39-52"; "foo-bar" → "foo-bar", "").
func ParseDrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isLetter(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// HashError reports a NAR hash that cannot be read.
type HashError struct {
	Hash string
	Err  error
}

func (e *HashError) Error() string { return fmt.Sprintf("NAR hash %q: %v", e.Hash, e.Err) }
func (e *HashError) Unwrap() error { return e.Err }

// NormalizeHash returns the canonical spelling "sha256:<nix-base32>" of a
// SHA-256 hash given in any spelling Nix uses: "sha256:<nix-base32>" (narinfo,
// exportReferencesGraph, Nix ≤ 2.18), "sha256:<base16>", "sha256:<base64>",
// or SRI "sha256-<base64>" (nix path-info on Nix ≥ 2.19). Keys and the Nix
// database are written from this form only, so the same content always
// gives the same key whatever Nix version or cache described it.
func NormalizeHash(h string) (string, error) {
	digest, err := SHA256Digest(h)
	if err != nil {
		return "", err
	}
	return FormatSHA256(digest), nil
}

// SHA256Digest decodes a SHA-256 hash in any spelling NormalizeHash accepts.
func SHA256Digest(h string) ([]byte, error) {
	algo := nixhash.SHA256
	parsed, err := nixhash.ParseAny(h, &algo)
	if err != nil {
		return nil, &HashError{Hash: h, Err: err}
	}
	if len(parsed.Digest()) != 32 { // go-nix accepts 44 base64 characters without padding (33 bytes)
		return nil, &HashError{Hash: h, Err: fmt.Errorf("decodes to %d bytes, not 32", len(parsed.Digest()))}
	}
	if !strings.HasPrefix(h, "sha256:") && !strings.HasPrefix(h, "sha256-") {
		return nil, &HashError{Hash: h, Err: fmt.Errorf(`want "sha256:…" or "sha256-…"`)}
	}
	return parsed.Digest(), nil
}

// FormatSHA256 spells a SHA-256 digest canonically: "sha256:<nix-base32>".
func FormatSHA256(digest []byte) string {
	return "sha256:" + nixbase32.EncodeToString(digest)
}
