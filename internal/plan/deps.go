package plan

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/org/nix-layer-action/internal/nixpath"
)

// isNameChar reports whether c may appear in a store path name (or, with
// '@', in a flake registry ref).
func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+-._?=", c) >= 0
}

// ConfigStorePaths returns the store paths (<store-dir>/<hash>-<name>,
// without subpaths) named anywhere in the config's entrypoint, cmd and env
// values, sorted and deduplicated.
func (p *Plan) ConfigStorePaths() []string {
	storeDir := p.StoreDir
	if storeDir == "" {
		storeDir = DefaultStoreDir
	}
	seen := map[string]bool{}
	for _, list := range [][]string{p.Config.Entrypoint, p.Config.Cmd, p.Config.Env} {
		for _, s := range list {
			for _, sp := range scanStorePaths(storeDir, s) {
				seen[sp] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for sp := range seen {
		out = append(out, sp)
	}
	sort.Strings(out)
	return out
}

// scanStorePaths finds every store path in s that starts at the beginning
// of s or after a character that cannot be part of a path ("PATH=…:…").
func scanStorePaths(storeDir, s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], storeDir+"/")
		if j < 0 {
			break
		}
		at := i + j
		if at > 0 && isPathChar(s[at-1]) {
			i = at + 1
			continue
		}
		if n := nixpath.Len(storeDir, s[at:]); n > 0 {
			out = append(out, s[at:at+n])
			i = at + n
			continue
		}
		i = at + 1
	}
	return out
}

// isPathChar reports whether c, just before a store dir, would make it
// part of a longer path or word ("/x/nix/store/…"). '=' and '?' may be in
// store names but here they separate ("PATH=/nix/store/…").
func isPathChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+-._/", c) >= 0
}

// parseDep classifies and resolves one dep string. It returns a message
// (and no Dep) when the string is invalid.
func (p *parser) parseDep(raw string, line int) (Dep, string) {
	if raw == "" {
		return Dep{}, "dep \"\" is neither a store path nor an installable"
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Dep{}, fmt.Sprintf("dep %q contains whitespace or control characters", raw)
	}
	if sp, sub, ok := nixpath.Split(p.storeDir, raw); ok {
		return Dep{Raw: raw, Kind: StorePath, Value: sp, Sub: sub, Line: line}, ""
	}
	ref, attr, hasHash := strings.Cut(raw, "#")
	if !hasHash || ref == "" || attr == "" {
		msg := fmt.Sprintf("dep %q is neither a store path nor an installable (expected %s/<hash>-<name>[/subpath] or flakeref#attr, e.g. \".#hello\" or \"nixpkgs#hello\")", raw, p.storeDir)
		if hasHash && attr == "" {
			msg += ": the attribute after '#' is empty"
		}
		return Dep{}, msg
	}
	value, msg := p.resolveFlakeRef(raw, ref)
	if msg != "" {
		return Dep{}, msg
	}
	if p.closureGraphSet {
		return Dep{}, fmt.Sprintf("dep %q is an installable, but closure-graph is set so Nix is not run to resolve it; use a store path", raw)
	}
	return Dep{Raw: raw, Kind: Installable, Value: value + "#" + attr, Line: line}, ""
}

// resolveFlakeRef resolves a relative path flake ref against the plan dir
// and checks the ref's general shape.
func (p *parser) resolveFlakeRef(raw, ref string) (string, string) {
	path, query, _ := strings.Cut(ref, "?")
	if query != "" {
		query = "?" + query
	}
	scheme := ""
	if rest, ok := strings.CutPrefix(path, "path:"); ok {
		scheme, path = "path:", rest
	}
	switch {
	case strings.HasPrefix(path, "/"):
		if path != filepath.Clean(path) && path != filepath.Clean(path)+"/" {
			return "", fmt.Sprintf("dep %q: flake path %q is not clean (use %q)", raw, path, filepath.Clean(path))
		}
		return scheme + path + query, ""
	case path == "." || path == ".." || strings.HasPrefix(path, "./") || strings.HasPrefix(path, "../") ||
		scheme != "" && path != "":
		if p.dir == "" {
			return "", fmt.Sprintf("dep %q: relative flake ref %q, but the plan comes from a flake that is not a local directory; use an absolute flake ref", raw, ref)
		}
		abs := filepath.Join(p.dir, path)
		if !p.allowOutside && outside(p.dir, filepath.Join(abs, queryDir(query))) {
			return "", fmt.Sprintf("dep %q: flake ref %q points outside the %s %s; set allow-outside-workspace: true to allow this", raw, ref, p.dirName(), p.dir)
		}
		return scheme + abs + query, ""
	case scheme != "":
		return "", fmt.Sprintf("dep %q: empty path in flake ref", raw)
	}
	if i := strings.IndexByte(path, ':'); i >= 0 {
		if !validScheme(path[:i]) || i == len(path)-1 {
			return "", fmt.Sprintf("dep %q: flake ref %q is not a valid URL-like reference (scheme:rest)", raw, ref)
		}
		return ref, ""
	}
	if !validIndirect(path) {
		return "", fmt.Sprintf("dep %q: flake ref %q is neither a path (start it with ./ or /) nor a registry name like nixpkgs", raw, ref)
	}
	return ref, ""
}

// queryDir is the dir= parameter of a flake ref's query ("?dir=sub&rev=…"):
// the subdirectory of the flake Nix reads.
func queryDir(query string) string {
	v, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		return ""
	}
	return v.Get("dir")
}

// outside reports whether the directory target Nix would read lies outside
// dir, judged both as written and with symlinks resolved (where they exist).
func outside(dir, target string) bool {
	climbs := func(base, t string) bool {
		rel, err := filepath.Rel(base, t)
		return err != nil || rel == ".." || strings.HasPrefix(rel, "../")
	}
	if climbs(dir, filepath.Clean(target)) {
		return true
	}
	rd, err1 := filepath.EvalSymlinks(dir)
	rt, err2 := filepath.EvalSymlinks(target)
	return err1 == nil && err2 == nil && climbs(rd, rt)
}

func validScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validIndirect checks a registry flake ref: id[/ref[/rev]], where id is
// [a-zA-Z][a-zA-Z0-9_-]*.
func validIndirect(s string) bool {
	id, rest, hasRest := strings.Cut(s, "/")
	if id == "" || !(id[0] >= 'a' && id[0] <= 'z' || id[0] >= 'A' && id[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	if !hasRest {
		return true
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(isNameChar(c) || c == '@') {
				return false
			}
		}
	}
	return true
}
