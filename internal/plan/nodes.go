package plan

import (
	"fmt"

	"github.com/org/nix-layer-action/internal/bytesize"
	"gopkg.in/yaml.v3"
)

// parser walks a yaml.v3 node tree and remembers the first error in file
// order. It keeps going after an error so that the error finally reported
// is the earliest one in the file, whatever order the checks run in.
type parser struct {
	file  string
	first *Error

	// attr is set for a plan evaluated from Nix (ParseValue): errors name
	// this attribute path instead of a line, and node lines are only the
	// nodes' order in the document.
	attr string

	// settings that other checks depend on, read before the rest
	storeDir        string
	dir             string
	allowOutside    bool
	closureGraphSet bool
	fromSet         bool

	// mappings with unknown or malformed keys: "missing key" errors for
	// them are left out, since the bad key is most likely the missing one
	// misspelt.
	badKeys map[*yaml.Node]bool
}

// missing reports a missing key of mapping n, unless n has a bad key.
func (p *parser) missing(n *yaml.Node, field, format string, args ...any) {
	if !p.badKeys[deref(n)] {
		p.add(n, field, format, args...)
	}
}

func (p *parser) markBadKey(n *yaml.Node) {
	if p.badKeys == nil {
		p.badKeys = map[*yaml.Node]bool{}
	}
	p.badKeys[n] = true
}

func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: p.file, Attr: p.attr, Field: field, Msg: fmt.Sprintf(format, args...)}
	switch {
	case n == nil:
	case p.attr != "":
		e.seq = n.Line
	default:
		e.Line, e.Column = n.Line, n.Column
	}
	if p.first == nil || e.before(p.first) {
		p.first = e
	}
}

// where names the position of node n at field for messages that point
// back to an earlier entry: "line 3" in a file, "imagePlan.layers[0].name"
// in a plan evaluated from Nix.
func (p *parser) where(n *yaml.Node, field string) string {
	if p.attr != "" {
		return attrField(p.attr, field)
	}
	return fmt.Sprintf("line %d", n.Line)
}

func child(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 64 && n != nil && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	case yaml.AliasNode:
		return "an unresolved alias"
	}
	return "an unexpected node"
}

// entry is one key/value pair of a mapping.
type entry struct{ key, val *yaml.Node }

// mapping checks that n is a mapping with only allowed, non-duplicate keys
// and returns its entries by key. ok is false when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, path string, allowed ...string) (map[string]entry, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "must be a mapping, got %s", describe(n))
		return nil, false
	}
	out := make(map[string]entry, len(n.Content)/2)
	where := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			p.add(k, path, "keys must be strings, got %s", describe(k))
			p.markBadKey(n)
			continue
		}
		name := k.Value
		if !contains(allowed, name) {
			p.add(k, child(path, name), "unknown key %q%s", name, hint(path, allowed))
			p.markBadKey(n)
			continue
		}
		if _, dup := out[name]; dup {
			p.add(k, child(path, name), "duplicate key %q (first at %s)", name, where[name])
			continue
		}
		out[name] = entry{key: k, val: deref(v)}
		where[name] = p.where(k, child(path, name))
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hint(path string, allowed []string) string {
	where := "here"
	if path != "" {
		where = "in " + path
	}
	s := " (allowed " + where + ":"
	for i, a := range allowed {
		if i > 0 {
			s += ","
		}
		s += " " + a
	}
	return s + ")"
}

// str reads a non-null scalar as a string.
func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.add(n, path, "must be a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// integer reads an integer scalar within [lo, hi].
func (p *parser) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.add(n, path, "must be an integer, got %s", describe(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		p.add(n, path, "integer %s is out of range (%d..%d)", n.Value, lo, hi)
		return 0, false
	}
	if v < lo || v > hi {
		p.add(n, path, "%d is out of range (%d..%d)", v, lo, hi)
		return 0, false
	}
	return v, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.add(n, path, "must be true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

// list reads a sequence; elements are dereferenced.
func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, "must be a list, got %s", describe(n))
		return nil, false
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out, true
}

// strList reads a list of strings.
func (p *parser) strList(n *yaml.Node, path string) ([]string, bool) {
	items, ok := p.list(n, path)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	good := true
	for i, it := range items {
		s, ok := p.str(it, index(path, i))
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

// size reads a size: an integer number of bytes or a string for ParseSize.
// It must be positive.
func (p *parser) size(n *yaml.Node, path string) (int64, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.Tag == "!!bool" {
		p.add(n, path, "must be a size like \"10GB\" or a number of bytes, got %s", describe(n))
		return 0, false
	}
	v, err := bytesize.Parse(n.Value)
	if err != nil {
		p.add(n, path, "%v", err)
		return 0, false
	}
	if v <= 0 {
		p.add(n, path, "size must be positive, got %q", n.Value)
		return 0, false
	}
	return v, true
}
