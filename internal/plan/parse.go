package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"

	"gopkg.in/yaml.v3"
)

// maxPlanSize bounds the plan file; real plans are a few KB.
const maxPlanSize = 1 << 20

// maxExpandedNodes bounds the node count of the plan with every alias
// expanded, so that an alias bomb cannot make validation run for ages.
const maxExpandedNodes = 1 << 20

// expandedSize counts the nodes under n as the parser will visit them, with
// aliases expanded. Sizes of alias targets are memoized (-1 = in progress,
// which only a cyclic alias could reach); the result saturates above
// maxExpandedNodes.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1
		}
		if v, ok := memo[n.Alias]; ok {
			if v < 0 {
				return maxExpandedNodes + 1
			}
			return v
		}
		memo[n.Alias] = -1
		v := expandedSize(n.Alias, memo)
		memo[n.Alias] = v
		return v
	}
	total := 1
	for _, c := range n.Content {
		total += expandedSize(c, memo)
		if total > maxExpandedNodes {
			return maxExpandedNodes + 1
		}
	}
	return total
}

var topKeys = []string{
	"version", "layers", "config", "closure-graph", "store-root", "store-dir",
	"from", "root", "tmp", "users", "perms", "nix-db", "max-layer-size",
	"allow-outside-workspace", "system",
}

var layerKeys = []string{"name", "deps", "max-size", "perms", "auto"}

// Parse parses and validates a plan. file names the plan in errors and
// fixes the directory that relative paths and flake refs resolve against.
// data may be YAML or JSON. Any problem is returned as one *Error: the
// first one in file order.
func Parse(file string, data []byte) (pl *Plan, err error) {
	defer func() {
		// yaml.v3 is not supposed to panic; never let a bad plan crash us.
		if r := recover(); r != nil {
			pl, err = nil, &Error{File: file, Msg: fmt.Sprintf("cannot parse plan: %v", r)}
		}
	}()
	dir, absErr := filepath.Abs(filepath.Dir(file))
	if absErr != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("cannot resolve plan directory: %v", absErr)}
	}
	if len(data) > maxPlanSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("plan is %d bytes; the limit is %d", len(data), maxPlanSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "plan is empty"}
		}
		return nil, fromYAMLError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fromYAMLError(file, err)
		}
		return nil, &Error{File: file, Line: extra.Line, Column: extra.Column, Msg: "a plan file must hold exactly one YAML document"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: file, Msg: "plan is empty"}
	}
	if n := expandedSize(doc.Content[0], map[*yaml.Node]int{}); n > maxExpandedNodes {
		return nil, &Error{File: file, Line: doc.Content[0].Line, Column: doc.Content[0].Column,
			Msg: fmt.Sprintf("plan expands to more than %d YAML nodes (too many aliases)", maxExpandedNodes)}
	}
	p := &parser{file: file, dir: dir, storeDir: DefaultStoreDir}
	return p.run(deref(doc.Content[0]))
}

// run validates the plan rooted at n with every rule of schema v1 and
// returns it, or the first problem in document order. Parse (YAML and JSON
// files) and ParseValue (values evaluated from Nix) both end here.
func (p *parser) run(n *yaml.Node) (*Plan, error) {
	pl := p.plan(n)
	if p.first != nil {
		return nil, p.first
	}
	pl.File, pl.Dir, pl.Attr = p.file, p.dir, p.attr
	return pl, nil
}

// dirName is what the directory relative paths resolve against is called
// in messages.
func (p *parser) dirName() string {
	if p.attr != "" {
		return "flake directory"
	}
	return "plan directory"
}

func (p *parser) plan(n *yaml.Node) *Plan {
	pl := &Plan{StoreDir: DefaultStoreDir, MaxLayerSize: DefaultMaxLayerSize}
	f, ok := p.mapping(n, "", topKeys...)
	if !ok {
		return pl
	}

	// Settings other checks depend on come first.
	if e, ok := f["store-dir"]; ok {
		if s, ok := p.str(e.val, "store-dir"); ok {
			if msg := checkStoreDir(s); msg != "" {
				p.add(e.val, "store-dir", "%s", msg)
			} else {
				pl.StoreDir, p.storeDir = s, s
			}
		}
	}
	if e, ok := f["allow-outside-workspace"]; ok {
		pl.AllowOutsideWorkspace, _ = p.boolean(e.val, "allow-outside-workspace")
		p.allowOutside = pl.AllowOutsideWorkspace
	}
	if e, ok := f["closure-graph"]; ok {
		p.closureGraphSet = true
		pl.ClosureGraph = p.hostPath(e.val, "closure-graph")
	}
	if e, ok := f["store-root"]; ok {
		pl.StoreRoot = p.hostPath(e.val, "store-root")
	}
	if e, ok := f["from"]; ok {
		p.fromSet = true
		if s, ok := p.str(e.val, "from"); ok {
			if s == "" || hasSpaceOrControl(s) {
				p.add(e.val, "from", "must be an image reference like \"debian:12\", got %q", s)
			}
			pl.From = s
		}
	}

	if e, ok := f["version"]; !ok {
		p.missing(n, "version", "missing; add \"version: 1\"")
	} else if e.val.Kind != yaml.ScalarNode || e.val.Tag != "!!int" {
		p.add(e.val, "version", "must be the number 1, got %s", describe(e.val))
	} else if e.val.Value != "1" {
		p.add(e.val, "version", "unsupported version %q (only version 1 is supported)", e.val.Value)
	} else {
		pl.Version = 1
	}

	if e, ok := f["system"]; ok {
		if s, ok := p.str(e.val, "system"); ok {
			if !ValidSystem(s) {
				p.add(e.val, "system", "must be a Linux Nix system like \"x86_64-linux\" or \"aarch64-linux\", got %q", s)
			} else {
				pl.System = s
			}
		}
	}
	if e, ok := f["max-layer-size"]; ok {
		if v, ok := p.size(e.val, "max-layer-size"); ok {
			pl.MaxLayerSize = v
		}
	}
	if e, ok := f["root"]; ok {
		pl.Root = p.deps(e.val, "root")
	}
	if e, ok := f["tmp"]; ok {
		pl.Tmp, _ = p.boolean(e.val, "tmp")
	}
	if e, ok := f["nix-db"]; ok {
		pl.NixDB, _ = p.boolean(e.val, "nix-db")
	}
	if e, ok := f["users"]; ok {
		pl.Users = p.users(e.val, "users")
	}
	if e, ok := f["perms"]; ok {
		pl.Perms = p.perms(e.val, "perms")
	}
	if e, ok := f["layers"]; !ok {
		p.missing(n, "layers", "missing; a plan needs at least one layer")
	} else {
		pl.Layers = p.layers(e.val, "layers")
	}
	if e, ok := f["config"]; ok {
		pl.Config = p.config(e.key, e.val, "config", pl.Users)
	}

	if pl.LayerCount() > MaxLayers {
		at, field := n, "layers"
		if e, ok := f["layers"]; ok {
			at = e.key
		}
		if k := len(pl.Layers); k > 0 && pl.Layers[k-1].Auto != nil {
			at = &yaml.Node{Line: pl.Layers[k-1].Auto.Line}
			field = index("layers", k-1) + ".auto.max-layers"
		}
		p.add(at, field, "the plan describes up to %d layers; an image may have at most %d", pl.LayerCount(), MaxLayers)
	}
	return pl
}

// systemRE is the shape of a Nix system an image can be for: <cpu>-linux.
var systemRE = regexp.MustCompile(`^[a-z0-9_]+-linux$`)

// ValidSystem reports whether s has the shape of a Nix system an image can
// be for ("x86_64-linux", "aarch64-linux": <cpu>-linux).
func ValidSystem(s string) bool { return systemRE.MatchString(s) }

func checkStoreDir(s string) string {
	switch {
	case s == "" || s[0] != '/':
		return fmt.Sprintf("store dir %q must be an absolute path", s)
	case len(s) > 1 && s[len(s)-1] == '/':
		return fmt.Sprintf("store dir %q must not end with a slash", s)
	case s == "/":
		return "store dir must not be /"
	case filepath.Clean(s) != s:
		return fmt.Sprintf("store dir %q is not a clean path (use %q)", s, filepath.Clean(s))
	case hasSpaceOrControl(s):
		return fmt.Sprintf("store dir %q contains whitespace or control characters", s)
	}
	return ""
}

func hasSpaceOrControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// hostPath reads a path on the build host, resolving it against the plan dir.
func (p *parser) hostPath(n *yaml.Node, path string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	if s == "" {
		p.add(n, path, "must not be empty")
		return ""
	}
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	if p.dir == "" {
		p.add(n, path, "relative path %q, but the plan comes from a flake that is not a local directory; use an absolute path", s)
		return ""
	}
	return filepath.Join(p.dir, s)
}

func (p *parser) layers(n *yaml.Node, path string) []Layer {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.add(n, path, "must list at least one layer")
		return nil
	}
	seen := map[string]string{}
	out := make([]Layer, 0, len(items))
	for i, it := range items {
		l, ok := p.layer(it, index(path, i), i == len(items)-1, seen)
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func (p *parser) layer(n *yaml.Node, path string, last bool, seen map[string]string) (Layer, bool) {
	l := Layer{Line: n.Line}
	f, ok := p.mapping(n, path, layerKeys...)
	if !ok {
		return l, false
	}
	if e, ok := f["name"]; !ok {
		p.missing(n, child(path, "name"), "missing; every layer needs a name")
	} else if name, ok := p.str(e.val, child(path, "name")); ok {
		if msg := checkLayerName(name); msg != "" {
			p.add(e.val, child(path, "name"), "%s", msg)
		} else if first, dup := seen[name]; dup {
			p.add(e.val, child(path, "name"), "duplicate layer name %q (first at %s)", name, first)
		} else {
			seen[name] = p.where(e.val, child(path, "name"))
		}
		l.Name = name
	}
	if e, ok := f["auto"]; ok {
		l.Auto = p.auto(e.val, child(path, "auto"))
		if !last {
			p.add(e.key, child(path, "auto"), "only the last layer entry may use auto")
		}
	}
	if e, ok := f["deps"]; ok {
		if l.Auto != nil || f["auto"].key != nil {
			p.add(e.key, child(path, "deps"), "the auto entry must not have deps; it takes every path no earlier layer holds")
		} else {
			l.Deps = p.deps(e.val, child(path, "deps"))
		}
	} else if f["auto"].key == nil {
		p.missing(n, child(path, "deps"), "missing; every layer except the auto entry needs at least one dep")
	}
	if e, ok := f["max-size"]; ok {
		l.MaxSize, _ = p.size(e.val, child(path, "max-size"))
	}
	if e, ok := f["perms"]; ok {
		l.Perms = p.perms(e.val, child(path, "perms"))
	}
	return l, true
}

func checkLayerName(name string) string {
	if name == "" {
		return "layer name must not be empty"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("layer name %q may only contain a-z, 0-9, '.', '_' and '-'", name)
		}
	}
	if name == RootLayerName {
		return fmt.Sprintf("layer name %q is reserved for the synthesized root layer", name)
	}
	if len(name) > 128 {
		return fmt.Sprintf("layer name %.20q… is longer than 128 characters", name)
	}
	return ""
}

func (p *parser) auto(n *yaml.Node, path string) *Auto {
	a := &Auto{Line: n.Line}
	f, ok := p.mapping(n, path, "max-layers")
	if !ok {
		return a
	}
	e, ok := f["max-layers"]
	if !ok {
		p.missing(n, child(path, "max-layers"), "missing; say how many layers auto may create (1..%d)", MaxLayers)
		return a
	}
	a.Line = e.val.Line
	if v, ok := p.integer(e.val, child(path, "max-layers"), 1, MaxLayers); ok {
		a.MaxLayers = int(v)
	}
	return a
}

func (p *parser) deps(n *yaml.Node, path string) []Dep {
	if isNull(n) {
		p.add(n, path, "must list at least one dep")
		return nil
	}
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.add(n, path, "must list at least one dep")
		return nil
	}
	out := make([]Dep, 0, len(items))
	for i, it := range items {
		s, ok := p.str(it, index(path, i))
		if !ok {
			continue
		}
		d, msg := p.parseDep(s, it.Line)
		if msg != "" {
			p.add(it, index(path, i), "%s", msg)
			continue
		}
		out = append(out, d)
	}
	return out
}
