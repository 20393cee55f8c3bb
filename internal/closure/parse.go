package closure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/org/nix-layer-action/internal/nixpath"
)

// InvalidPathError reports a store path that Nix says is not valid (not
// present in the store): a null entry in the Nix ≥2.19 path-info object, or
// "valid": false.
type InvalidPathError struct{ Path string }

func (e *InvalidPathError) Error() string {
	return fmt.Sprintf("path '%s' is not valid", e.Path)
}

// rawInfo is one entry as found in any of the supported JSON shapes.
type rawInfo struct {
	Path       string          `json:"path"`
	NarHash    json.RawMessage `json:"narHash"`
	NarSize    *int64          `json:"narSize"`
	References []string        `json:"references"`
	Valid      *bool           `json:"valid"`
}

// ParsePathInfo parses `nix path-info --json` output in either shape:
// an array of objects carrying "path" (Nix ≤ 2.18) or an object keyed by
// store path (Nix ≥ 2.19), where a null value marks an invalid path and
// yields an *InvalidPathError. narHash is kept as given.
func ParsePathInfo(data []byte) ([]PathInfo, error) {
	switch firstByte(data) {
	case '[':
		return parseArray(data, "path-info")
	case '{':
		return parseKeyed(data)
	default:
		return nil, errors.New("path-info JSON: expected an array or an object")
	}
}

// ParseReferencesGraph parses exportReferencesGraph JSON: an array of
// {path, narHash, narSize, references, …}, or an object wrapping that array
// under "closure" (or under its only key, as some builders write it).
func ParseReferencesGraph(data []byte) ([]PathInfo, error) {
	switch firstByte(data) {
	case '[':
		return parseArray(data, "references graph")
	case '{':
		arr, err := unwrapGraph(data)
		if err != nil {
			return nil, err
		}
		return parseArray(arr, "references graph")
	default:
		return nil, errors.New("references graph JSON: expected an array or an object")
	}
}

// LoadGraphFile reads a closure graph in any shape ParsePathInfo or
// ParseReferencesGraph accepts and validates it with NewGraph. Errors name
// the file.
func LoadGraphFile(path string) (*Graph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("closure graph: %w", err)
	}
	infos, err := parseAny(data)
	if err != nil {
		return nil, fmt.Errorf("closure graph %s: %w", path, err)
	}
	g, err := NewGraph(infos)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

func parseAny(data []byte) ([]PathInfo, error) {
	if firstByte(data) == '{' && !keyedByPath(data) {
		return ParseReferencesGraph(data)
	}
	return ParsePathInfo(data)
}

func firstByte(data []byte) byte {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return 0
	}
	return data[0]
}

// keyedByPath reports whether the object's first key looks like a store path
// (or the object is empty).
func keyedByPath(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return false
	}
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	if d, ok := tok.(json.Delim); ok && d == '}' {
		return true
	}
	k, ok := tok.(string)
	return ok && strings.HasPrefix(k, "/")
}

func unwrapGraph(data []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("references graph JSON: %w", err)
	}
	if v, ok := obj["closure"]; ok {
		if firstByte(v) != '[' {
			return nil, errors.New(`references graph JSON: "closure" is not an array`)
		}
		return v, nil
	}
	if len(obj) == 1 {
		for k, v := range obj {
			if firstByte(v) != '[' {
				return nil, fmt.Errorf("references graph JSON: %q is not an array", k)
			}
			return v, nil
		}
	}
	return nil, errors.New(`references graph JSON: object has no "closure" array`)
}

func parseArray(data []byte, what string) ([]PathInfo, error) {
	var raws []*rawInfo
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("%s JSON: %w", what, err)
	}
	out := make([]PathInfo, 0, len(raws))
	for i, r := range raws {
		if r == nil {
			return nil, fmt.Errorf("%s JSON: entry %d is null", what, i)
		}
		if r.Path == "" {
			return nil, fmt.Errorf("%s JSON: entry %d has no \"path\"", what, i)
		}
		in, err := r.toInfo(r.Path)
		if err != nil {
			return nil, fmt.Errorf("%s JSON: %w", what, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// parseKeyed parses the Nix ≥ 2.19 object form, rejecting duplicate keys.
func parseKeyed(data []byte) ([]PathInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("path-info JSON: %w", err)
	}
	seen := make(map[string]bool)
	var out []PathInfo
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("path-info JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("path-info JSON: unexpected token %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("path-info JSON: %s: %w", key, err)
		}
		if !strings.HasPrefix(key, "/") {
			return nil, fmt.Errorf("path-info JSON: key %q is not a store path", key)
		}
		if seen[key] {
			return nil, fmt.Errorf("path-info JSON: duplicate entry for %s", key)
		}
		seen[key] = true
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, &InvalidPathError{Path: key}
		}
		var r rawInfo
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("path-info JSON: %s: %w", key, err)
		}
		if r.Path != "" && r.Path != key {
			return nil, fmt.Errorf("path-info JSON: entry %s has mismatching path %s", key, r.Path)
		}
		in, err := r.toInfo(key)
		if err != nil {
			return nil, fmt.Errorf("path-info JSON: %w", err)
		}
		out = append(out, in)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("path-info JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("path-info JSON: trailing data after object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("path-info JSON: trailing data after object")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (r *rawInfo) toInfo(path string) (PathInfo, error) {
	if !strings.HasPrefix(path, "/") {
		return PathInfo{}, fmt.Errorf("%q is not an absolute store path", path)
	}
	if r.Valid != nil && !*r.Valid {
		return PathInfo{}, &InvalidPathError{Path: path}
	}
	var hash string
	if len(r.NarHash) == 0 || bytes.Equal(r.NarHash, []byte("null")) {
		return PathInfo{}, fmt.Errorf("%s: missing narHash", path)
	}
	if err := json.Unmarshal(r.NarHash, &hash); err != nil {
		return PathInfo{}, fmt.Errorf("%s: narHash is not a string", path)
	}
	if hash == "" {
		return PathInfo{}, fmt.Errorf("%s: empty narHash", path)
	}
	if r.NarSize == nil {
		return PathInfo{}, fmt.Errorf("%s: missing narSize", path)
	}
	if *r.NarSize < 0 {
		return PathInfo{}, fmt.Errorf("%s: negative narSize %d", path, *r.NarSize)
	}
	refs := make([]string, 0, len(r.References))
	dir := nixpath.Dir(path)
	for _, ref := range r.References {
		switch {
		case ref == "":
			return PathInfo{}, fmt.Errorf("%s: empty reference", path)
		case !strings.Contains(ref, "/") && dir != "":
			// Newer Nix may print references as base names.
			ref = dir + "/" + ref
		case !strings.HasPrefix(ref, "/"):
			return PathInfo{}, fmt.Errorf("%s: reference %q is not an absolute store path", path, ref)
		}
		refs = append(refs, ref)
	}
	return PathInfo{Path: path, NarHash: hash, NarSize: *r.NarSize, References: refs}, nil
}
