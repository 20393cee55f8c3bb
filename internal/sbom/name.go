package sbom

import (
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// storeHashLen is the length of the nix-base32 hash that starts a store
// path's base name (20 bytes).
const storeHashLen = 32

// knownOutputs are the output names nixpkgs' multiple-outputs machinery
// (pkgs/build-support/setup-hooks/multiple-outputs.sh, separateDebugInfo,
// Python's "dist") appends to a store path name. "out" is never appended.
var knownOutputs = map[string]bool{
	"bin": true, "debug": true, "dev": true, "devdoc": true, "devman": true,
	"dist": true, "doc": true, "info": true, "lib": true, "man": true,
	"static": true,
}

// StorePathError reports a path that is not "<storeDir>/<hash>-<name>".
type StorePathError struct {
	Path   string
	Reason string
}

// Error implements error.
func (e *StorePathError) Error() string {
	return fmt.Sprintf("sbom: %q is not a store path: %s", e.Path, e.Reason)
}

// PackageName is what a store path's name says about its package.
type PackageName struct {
	// StoreHash is the nix-base32 hash at the start of the base name.
	StoreHash string
	// Name is the package name as builtins.parseDrvName returns it.
	Name string
	// Version is parseDrvName's version with a multi-output suffix
	// (Output) removed; "" when the name carries no version.
	Version string
	// Output is the multi-output suffix ("dev", "lib", "bin", …) that was
	// removed from the version, or "" (the default "out" output, or a name
	// without a version, whose suffix cannot be told from the name).
	Output string
}

// ParseDrvName splits s exactly as Nix's builtins.parseDrvName does: the
// name is everything before the first '-' that is followed by a character
// other than an ASCII letter, and the version is everything after that
// dash. Without such a dash the version is "".
func ParseDrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isASCIILetter(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func isASCIILetter(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// SplitOutput removes a known multi-output suffix ("-dev", "-lib", …)
// from a parseDrvName version: "3.0.13-dev" → ("3.0.13", "dev"). A version
// that is nothing but the suffix, or ends in an unknown word, is kept whole.
func SplitOutput(version string) (rest, output string) {
	i := strings.LastIndexByte(version, '-')
	if i <= 0 || !knownOutputs[version[i+1:]] {
		return version, ""
	}
	return version[:i], version[i+1:]
}

// ParseStorePath parses an absolute store path (any store directory) into
// its package name, version and output.
func ParseStorePath(path string) (PackageName, error) {
	slash := strings.LastIndexByte(path, '/')
	if slash <= 0 || path[0] != '/' {
		return PackageName{}, &StorePathError{Path: path, Reason: "not an absolute path below a store directory"}
	}
	base := path[slash+1:]
	if len(base) < storeHashLen+2 || base[storeHashLen] != '-' {
		return PackageName{}, &StorePathError{Path: path, Reason: "base name is not <32-character hash>-<name>"}
	}
	hash := base[:storeHashLen]
	if err := nixbase32.ValidateString(hash); err != nil {
		return PackageName{}, &StorePathError{Path: path, Reason: "hash is not nix-base32: " + err.Error()}
	}
	name, version := ParseDrvName(base[storeHashLen+1:])
	version, output := SplitOutput(version)
	return PackageName{StoreHash: hash, Name: name, Version: version, Output: output}, nil
}
