package closure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
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

// BadPathError reports a store path that Nix would never accept (see
// nixpath.Check) in a path-info answer or a closure graph: Field says where
// ("[3].path", "[3].references[1]"), Err what is wrong. Nothing in such a
// graph is used.
type BadPathError struct {
	Field string
	Path  string
	Err   error
}

func (e *BadPathError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *BadPathError) Unwrap() error { return e.Err }

// checkPath checks a path given as an entry's path or key: a store path in
// storeDir, or (storeDir "") in the store directory it names itself.
func checkPath(storeDir, p string) error {
	if storeDir != "" {
		return nixpath.Check(storeDir, p)
	}
	return nixpath.CheckRecorded(p)
}

// rawInfo is one entry as found in any of the supported JSON shapes.
type rawInfo struct {
	Path       string          `json:"path"`
	NarHash    json.RawMessage `json:"narHash"`
	NarSize    *int64          `json:"narSize"`
	References []string        `json:"references"`
	Valid      *bool           `json:"valid"`
}

// ParsePathInfo parses `nix path-info --json` output in any shape Nix
// prints: an array of objects carrying "path" (Nix ≤ 2.18), an object keyed
// by store path (Nix ≥ 2.19, --json-format 1), or the --json-format 2
// wrapper {"info": {<base name>: …}, "storeDir", "version": 2} (Nix ≥
// 2.33) whose keys and references are base names. A null value or
// "valid": false marks an invalid path and yields an *InvalidPathError.
// narHash is kept as given (a string in any spelling, or the structured
// {algorithm, format, hash} form spelled as a string); keys normalise it.
func ParsePathInfo(data []byte) ([]PathInfo, error) {
	infos, invalid, err := parsePathInfo(data)
	if err != nil {
		return nil, err
	}
	if len(invalid) > 0 {
		return nil, &InvalidPathError{Path: invalid[0]}
	}
	return infos, nil
}

// ParsePathInfoValid is ParsePathInfo for a query that may name invalid
// paths: it returns the valid ones' infos and the invalid paths, sorted.
func ParsePathInfoValid(data []byte) (infos []PathInfo, invalid []string, err error) {
	infos, invalid, err = parsePathInfo(data)
	sort.Strings(invalid)
	return infos, invalid, err
}

func parsePathInfo(data []byte) ([]PathInfo, []string, error) {
	switch firstByte(data) {
	case '[':
		return parseArray(data, "path-info")
	case '{':
		if inner, storeDir, ok := unwrapFormat2(data); ok {
			return parseKeyed(inner, storeDir)
		}
		return parseKeyed(data, "")
	default:
		return nil, nil, errors.New("path-info JSON: expected an array or an object")
	}
}

// unwrapFormat2 returns the "info" object and store dir of a
// --json-format 2 answer.
func unwrapFormat2(data []byte) (json.RawMessage, string, bool) {
	var w struct {
		Info     json.RawMessage `json:"info"`
		StoreDir string          `json:"storeDir"`
		Version  int             `json:"version"`
	}
	if keyedByPath(data) || json.Unmarshal(data, &w) != nil || w.Version < 2 || firstByte(w.Info) != '{' || w.StoreDir == "" {
		return nil, "", false
	}
	return w.Info, w.StoreDir, true
}

// ParseReferencesGraph parses exportReferencesGraph JSON: an array of
// {path, narHash, narSize, references, …}, or an object wrapping that array
// under "closure" (or under its only key, as some builders write it).
func ParseReferencesGraph(data []byte) ([]PathInfo, error) {
	arr := data
	switch firstByte(data) {
	case '[':
	case '{':
		var err error
		if arr, err = unwrapGraph(data); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("references graph JSON: expected an array or an object")
	}
	infos, invalid, err := parseArray(arr, "references graph")
	if err == nil && len(invalid) > 0 {
		err = &InvalidPathError{Path: invalid[0]}
	}
	return infos, err
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
	var bad *BadPathError
	if errors.As(err, &bad) {
		return nil, &GraphFileError{File: path, Line: lineOf(data, bad.Path), Field: bad.Field, Err: bad.Err}
	}
	if err != nil {
		return nil, fmt.Errorf("closure graph %s: %w", path, err)
	}
	g, err := NewGraph(infos)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// GraphFileError is a closure graph file refused for one of its values:
// File, the 1-based Line of the value (0 when unknown), Field (as in
// BadPathError) and what is wrong.
type GraphFileError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *GraphFileError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	return loc + ": " + e.Field + ": " + e.Err.Error()
}

func (e *GraphFileError) Unwrap() error { return e.Err }

// lineOf returns the 1-based line of the first JSON string in data equal to
// s (or to its base name, as --json-format 2 writes paths), or 0.
func lineOf(data []byte, s string) int {
	base := s[strings.LastIndexByte(s, '/')+1:]
	for _, want := range []string{s, base} {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			if str, ok := tok.(string); ok && str == want {
				return 1 + bytes.Count(data[:dec.InputOffset()], []byte("\n"))
			}
		}
	}
	return 0
}

func parseAny(data []byte) ([]PathInfo, error) {
	if _, _, v2 := unwrapFormat2(data); firstByte(data) == '{' && !keyedByPath(data) && !v2 {
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

func parseArray(data []byte, what string) ([]PathInfo, []string, error) {
	var raws []*rawInfo
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, nil, fmt.Errorf("%s JSON: %w", what, err)
	}
	out := make([]PathInfo, 0, len(raws))
	var invalid []string
	for i, r := range raws {
		if r == nil {
			return nil, nil, fmt.Errorf("%s JSON: entry %d is null", what, i)
		}
		if r.Path == "" {
			return nil, nil, fmt.Errorf("%s JSON: entry %d has no \"path\"", what, i)
		}
		if r.Valid != nil && !*r.Valid {
			invalid = append(invalid, r.Path)
			continue
		}
		in, err := r.toInfo(r.Path, "")
		var bad *BadPathError
		if errors.As(err, &bad) {
			bad.Field = fmt.Sprintf("[%d].%s", i, bad.Field)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s JSON: %w", what, err)
		}
		out = append(out, in)
	}
	return out, invalid, nil
}

// parseKeyed parses the Nix ≥ 2.19 object form, rejecting duplicate keys.
// storeDir, when set (--json-format 2), prefixes keys that are base names.
func parseKeyed(data []byte, storeDir string) ([]PathInfo, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("path-info JSON: %w", err)
	}
	seen := make(map[string]bool)
	var out []PathInfo
	var invalid []string
	for dec.More() {
		key, raw, err := nextEntry(dec)
		if err != nil {
			return nil, nil, err
		}
		if storeDir != "" && !strings.Contains(key, "/") {
			key = storeDir + "/" + key
		}
		if !strings.HasPrefix(key, "/") {
			return nil, nil, fmt.Errorf("path-info JSON: key %q is not a store path", key)
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("path-info JSON: duplicate entry for %s", key)
		}
		seen[key] = true
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			invalid = append(invalid, key)
			continue
		}
		in, err := keyedInfo(key, raw, storeDir)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, in)
	}
	if err := endObject(dec); err != nil {
		return nil, nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, invalid, nil
}

func nextEntry(dec *json.Decoder) (string, json.RawMessage, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", nil, fmt.Errorf("path-info JSON: %w", err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", nil, fmt.Errorf("path-info JSON: unexpected token %v", tok)
	}
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return "", nil, fmt.Errorf("path-info JSON: %s: %w", key, err)
	}
	return key, raw, nil
}

func keyedInfo(key string, raw json.RawMessage, storeDir string) (PathInfo, error) {
	var r rawInfo
	if err := json.Unmarshal(raw, &r); err != nil {
		return PathInfo{}, fmt.Errorf("path-info JSON: %s: %w", key, err)
	}
	if r.Path != "" && r.Path != key {
		return PathInfo{}, fmt.Errorf("path-info JSON: entry %s has mismatching path %s", key, r.Path)
	}
	if r.Valid != nil && !*r.Valid {
		return PathInfo{}, &InvalidPathError{Path: key}
	}
	in, err := r.toInfo(key, storeDir)
	var bad *BadPathError
	if errors.As(err, &bad) && bad.Field == "path" {
		bad.Field = "key"
	}
	if err != nil {
		return PathInfo{}, fmt.Errorf("path-info JSON: %w", err)
	}
	return in, nil
}

func endObject(dec *json.Decoder) error {
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("path-info JSON: %w", err)
	}
	if dec.More() {
		return errors.New("path-info JSON: trailing data after object")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("path-info JSON: trailing data after object")
	}
	return nil
}

func (r *rawInfo) toInfo(path, storeDir string) (PathInfo, error) {
	if err := checkPath(storeDir, path); err != nil {
		return PathInfo{}, &BadPathError{Field: "path", Path: path, Err: err}
	}
	if r.Valid != nil && !*r.Valid {
		return PathInfo{}, &InvalidPathError{Path: path}
	}
	if len(r.NarHash) == 0 || bytes.Equal(r.NarHash, []byte("null")) {
		return PathInfo{}, fmt.Errorf("%s: missing narHash", path)
	}
	hash, err := narHashString(r.NarHash)
	if err != nil {
		return PathInfo{}, fmt.Errorf("%s: %w", path, err)
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
	if storeDir != "" {
		dir = storeDir
	}
	for i, ref := range r.References {
		switch {
		case ref == "":
			return PathInfo{}, fmt.Errorf("%s: empty reference", path)
		case !strings.Contains(ref, "/") && dir != "":
			// Newer Nix may print references as base names.
			ref = dir + "/" + ref
		}
		if err := nixpath.Check(dir, ref); err != nil {
			return PathInfo{}, &BadPathError{Field: fmt.Sprintf("references[%d]", i), Path: ref, Err: err}
		}
		refs = append(refs, ref)
	}
	return PathInfo{Path: path, NarHash: hash, NarSize: *r.NarSize, References: refs}, nil
}

// narHashString reads a narHash: a string, or the structured form
// {"algorithm": "sha256", "format": "base64"|"nix32"|"base16"|"sri",
// "hash": …} (Nix ≥ 2.33), which it spells as a string.
func narHashString(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var h struct {
		Algorithm string `json:"algorithm"`
		Format    string `json:"format"`
		Hash      string `json:"hash"`
	}
	if json.Unmarshal(raw, &h) != nil || h.Algorithm == "" || h.Hash == "" {
		return "", errors.New("narHash is not a string or an {algorithm, format, hash} object")
	}
	switch h.Format {
	case "sri":
		return h.Hash, nil
	case "base64":
		return h.Algorithm + "-" + h.Hash, nil
	}
	return h.Algorithm + ":" + h.Hash, nil
}
