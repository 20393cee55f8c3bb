package layering

import (
	"regexp"
	"slices"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
)

func TestKeySensitivity(t *testing.T) {
	base := []closure.PathInfo{
		{Path: p("a"), NarHash: "sha256:aaa", NarSize: 1},
		{Path: p("b"), NarHash: "sha256:bbb", NarSize: 2},
	}
	k0 := Key("params", []string{"x", "y"}, base)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(k0) {
		t.Fatalf("key %q is not sha256:<hex>", k0)
	}
	with := func(f func([]closure.PathInfo) []closure.PathInfo) []closure.PathInfo {
		return f(slices.Clone(base))
	}
	variants := map[string]string{
		"params":          Key("params2", []string{"x", "y"}, base),
		"no params":       Key("", []string{"x", "y"}, base),
		"extra changed":   Key("params", []string{"x", "z"}, base),
		"extra added":     Key("params", []string{"x", "y", "z"}, base),
		"extra removed":   Key("params", []string{"x"}, base),
		"extra dup":       Key("params", []string{"x", "x", "y"}, base),
		"narHash changed": Key("params", []string{"x", "y"}, with(func(s []closure.PathInfo) []closure.PathInfo { s[1].NarHash = "sha256:bbc"; return s })),
		"path changed":    Key("params", []string{"x", "y"}, with(func(s []closure.PathInfo) []closure.PathInfo { s[0].Path = storePath("a2", "a"); return s })),
		"path added":      Key("params", []string{"x", "y"}, append(slices.Clone(base), closure.PathInfo{Path: p("c"), NarHash: "sha256:ccc"})),
		"path removed":    Key("params", []string{"x", "y"}, base[:1]),
		"hashes swapped": Key("params", []string{"x", "y"}, with(func(s []closure.PathInfo) []closure.PathInfo {
			s[0].NarHash, s[1].NarHash = s[1].NarHash, s[0].NarHash
			return s
		})),
	}
	seen := map[string]string{k0: "base"}
	for name, k := range variants {
		if other, dup := seen[k]; dup {
			t.Errorf("%s: key equals that of %s (%s)", name, other, k)
		}
		seen[k] = name
	}
}

func TestKeyInsensitivity(t *testing.T) {
	a := []closure.PathInfo{
		{Path: p("a"), NarHash: "sha256:aaa", NarSize: 1, References: []string{p("b")}},
		{Path: p("b"), NarHash: "sha256:bbb", NarSize: 2},
		{Path: p("c"), NarHash: "sha256:ccc", NarSize: 3},
	}
	b := []closure.PathInfo{a[2], a[0], a[1]}
	b[0].NarSize = 99     // size is not key material
	b[1].References = nil // neither are references
	extraA := []string{"perm b", "perm a", "digest z"}
	extraB := []string{"digest z", "perm a", "perm b"}
	ka, kb := Key("kp", extraA, a), Key("kp", extraB, b)
	if ka != kb {
		t.Errorf("order/size/references changed the key: %s vs %s", ka, kb)
	}
	// Inputs are not reordered.
	if extraA[0] != "perm b" || a[0].Path != p("a") || b[0].Path != p("c") {
		t.Errorf("Key modified its inputs")
	}
	if Key("kp", nil, nil) != Key("kp", []string{}, []closure.PathInfo{}) {
		t.Errorf("nil and empty lists give different keys")
	}
}

// Field boundaries must not be ambiguous: moving bytes from one field to
// the next, or between lists, must change the key.
func TestKeyUnambiguous(t *testing.T) {
	pi := func(path, hash string) []closure.PathInfo {
		return []closure.PathInfo{{Path: path, NarHash: hash}}
	}
	pairs := [][2]string{
		{Key("ab", nil, nil), Key("a", []string{"b"}, nil)},
		{Key("p", []string{"a", "b"}, nil), Key("p", []string{"a\nb"}, nil)},
		{Key("p", []string{"a", "b"}, nil), Key("p", []string{"ab"}, nil)},
		{Key("p", []string{"a,"}, nil), Key("p", []string{"a", ""}, nil)},
		{Key("p", nil, pi("/x y", "z")), Key("p", nil, pi("/x", "y z"))},
		{Key("p", nil, pi("/x", "1:y,")), Key("p", nil, pi("/x1:y,", ""))},
		{Key("p", []string{"/x", "h"}, nil), Key("p", nil, pi("/x", "h"))},
		{Key("p", []string{""}, nil), Key("p", nil, nil)},
	}
	for i, pr := range pairs {
		if pr[0] == pr[1] {
			t.Errorf("pair %d: distinct inputs share key %s", i, pr[0])
		}
	}
}
