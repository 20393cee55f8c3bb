package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxValueDepth bounds the nesting of a JSON plan value; a plan nests
// four levels deep.
const maxValueDepth = 64

// ParseValue parses and validates a plan written in Nix: data is the JSON
// of the evaluated value (`nix eval --json`), in which derivations have
// become their output paths, so deps arrive as store path strings or
// installable strings. It applies exactly the rules Parse applies to a
// YAML or JSON file. Errors are *Error values naming the attribute path
// instead of a line:
//
//	.#imagePlan: imagePlan.layers[3].deps[1]: dep "…" is neither a store path nor an installable …
//
// label names the plan in errors and becomes Plan.File (the installable as
// the user wrote it, e.g. ".#imagePlan"); attrPath is the value's attribute
// path ("imagePlan") and becomes Plan.Attr. dir is the flake's directory:
// relative flake refs and host paths (closure-graph, store-root) resolve
// against it. With dir "" (a flake that is not a local directory) they are
// errors. A relative dir is made absolute.
func ParseValue(label, attrPath, dir string, data []byte) (pl *Plan, err error) {
	if attrPath == "" {
		attrPath = "<value>"
	}
	defer func() {
		if r := recover(); r != nil {
			pl, err = nil, &Error{File: label, Attr: attrPath, Msg: fmt.Sprintf("cannot parse plan: %v", r)}
		}
	}()
	if dir != "" {
		abs, absErr := filepath.Abs(dir)
		if absErr != nil {
			return nil, &Error{File: label, Attr: attrPath, Msg: fmt.Sprintf("cannot resolve flake directory: %v", absErr)}
		}
		dir = abs
	}
	if len(data) > maxPlanSize {
		return nil, &Error{File: label, Attr: attrPath, Msg: fmt.Sprintf("evaluated plan is %d bytes of JSON; the limit is %d", len(data), maxPlanSize)}
	}
	root, err := jsonNode(data)
	if err != nil {
		return nil, &Error{File: label, Attr: attrPath, Msg: fmt.Sprintf("evaluated plan is not valid JSON (%v); evaluate it with nix eval --json", err)}
	}
	p := &parser{file: label, attr: attrPath, dir: dir, storeDir: DefaultStoreDir}
	pl, err = p.run(root)
	if err != nil {
		return nil, err
	}
	clearLines(pl)
	return pl, nil
}

// clearLines zeroes the Line fields of a plan parsed from a value: there
// they held the nodes' order in the document, not lines of a file.
func clearLines(pl *Plan) {
	pl.Config.Line = 0
	pl.Config.lines = nil
	for i := range pl.Config.Args {
		pl.Config.Args[i].Line = 0
		pl.Config.Args[i].Dep.Line = 0
	}
	for i := range pl.Layers {
		l := &pl.Layers[i]
		l.Line = 0
		if l.Auto != nil {
			l.Auto.Line = 0
		}
		clearDepLines(l.Deps)
		clearPermLines(l.Perms)
	}
	clearDepLines(pl.Root)
	clearPermLines(pl.Perms)
	for i := range pl.Users {
		pl.Users[i].Line = 0
	}
}

func clearDepLines(deps []Dep) {
	for i := range deps {
		deps[i].Line = 0
	}
}

func clearPermLines(perms []Perm) {
	for i := range perms {
		perms[i].Line = 0
	}
}

// jsonNode decodes one JSON value into the yaml.v3 node tree the parser
// walks. Keys keep their order (duplicates too, so that they are reported);
// each node's Line is its position in document order (1, 2, …), which is
// all the parser needs to report the first problem first. Integers are
// tagged !!int, other numbers !!float, as YAML would.
func jsonNode(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	b := &nodeBuilder{dec: dec}
	n, err := b.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return n, nil
}

type nodeBuilder struct {
	dec  *json.Decoder
	next int
}

func (b *nodeBuilder) node(kind yaml.Kind, tag, value string) *yaml.Node {
	b.next++
	return &yaml.Node{Kind: kind, Tag: tag, Value: value, Line: b.next}
}

func (b *nodeBuilder) value(depth int) (*yaml.Node, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxValueDepth)
	}
	tok, err := b.dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("no value")
	}
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return b.object(depth)
		}
		return b.array(depth)
	case string:
		return b.node(yaml.ScalarNode, "!!str", v), nil
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return b.node(yaml.ScalarNode, "!!float", string(v)), nil
		}
		return b.node(yaml.ScalarNode, "!!int", string(v)), nil
	case bool:
		return b.node(yaml.ScalarNode, "!!bool", fmt.Sprint(v)), nil
	case nil:
		return b.node(yaml.ScalarNode, "!!null", "null"), nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

func (b *nodeBuilder) object(depth int) (*yaml.Node, error) {
	n := b.node(yaml.MappingNode, "!!map", "")
	for b.dec.More() {
		tok, err := b.dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", tok)
		}
		k := b.node(yaml.ScalarNode, "!!str", key)
		v, err := b.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, k, v)
	}
	_, err := b.dec.Token() // '}'
	return n, err
}

func (b *nodeBuilder) array(depth int) (*yaml.Node, error) {
	n := b.node(yaml.SequenceNode, "!!seq", "")
	for b.dec.More() {
		v, err := b.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, v)
	}
	_, err := b.dec.Token() // ']'
	return n, err
}
