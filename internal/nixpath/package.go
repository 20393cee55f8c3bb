package nixpath

import (
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// knownOutputs are the output names nixpkgs' multiple-outputs machinery
// (pkgs/build-support/setup-hooks/multiple-outputs.sh, separateDebugInfo,
// Python's "dist") appends to a store path name. "out" is never appended.
var knownOutputs = map[string]bool{
	"bin": true, "debug": true, "dev": true, "devdoc": true, "devman": true,
	"dist": true, "doc": true, "info": true, "lib": true, "man": true,
	"static": true, "py": true, "python": true, "modules": true, "terminfo": true,
}

// PathError reports a path that is not "<storeDir>/<hash>-<name>".
type PathError struct {
	Path   string
	Reason string
}

// Error implements error.
func (e *PathError) Error() string {
	return fmt.Sprintf("%q is not a store path: %s", e.Path, e.Reason)
}

// Package is what a store path's name says about its package.
type Package struct {
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

// ParsePackage parses an absolute store path (any store directory) into
// its package name, version and output.
func ParsePackage(path string) (Package, error) {
	slash := strings.LastIndexByte(path, '/')
	if slash <= 0 || path[0] != '/' {
		return Package{}, &PathError{Path: path, Reason: "not an absolute path below a store directory"}
	}
	base := path[slash+1:]
	if len(base) < HashLen+2 || base[HashLen] != '-' {
		return Package{}, &PathError{Path: path, Reason: "base name is not <32-character hash>-<name>"}
	}
	hash := base[:HashLen]
	if err := nixbase32.ValidateString(hash); err != nil {
		return Package{}, &PathError{Path: path, Reason: "hash is not nix-base32: " + err.Error()}
	}
	name, version := ParseDrvName(base[HashLen+1:])
	version, output := SplitOutput(version)
	return Package{StoreHash: hash, Name: name, Version: version, Output: output}, nil
}

// PackageName splits store path p, or anything shaped like one (a bare
// store path name, a path in another store), into package name and
// version with ParseDrvName, leniently: for names recorded by others.
func PackageName(p string) (name, version string) {
	return ParseDrvName(Name(p))
}
