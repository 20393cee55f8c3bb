package plan

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigCheck says what happens when the config's entrypoint, cmd or PATH
// names something the image does not hold (key: config.check).
type ConfigCheck string

// Config check modes.
const (
	CheckWarn   ConfigCheck = "warn"   // the default: a warning per problem
	CheckStrict ConfigCheck = "strict" // the first problem fails the build
	CheckOff    ConfigCheck = "off"    // nothing is checked
)

// ConfigArg is an entrypoint, cmd or env item written as a mapping
// {installable: ".#app", path: "/bin/app"} (env: {name: "APP_HOME",
// installable: ".#app", path: "/share"}): it stands for the store path the
// installable evaluates to, followed by Path, so the config follows the
// package when it changes. ResolveArgs fills it in.
type ConfigArg struct {
	Field string // "entrypoint[0]", "cmd[2]", "env[1]"
	Name  string // env items: the variable's name; "" otherwise
	Dep   Dep    // the installable (Kind Installable)
	Path  string // "/bin/app", or "" for the store path itself
	Line  int
}

// argKeys are the keys of an entrypoint or cmd item written as a mapping;
// envArgKeys those of an env item.
var (
	argKeys    = []string{"installable", "path"}
	envArgKeys = []string{"name", "installable", "path"}
)

// argList reads an entrypoint or cmd list: strings, or {installable, path}
// mappings recorded in c.Args (their place in the list stays "" until
// ResolveArgs).
func (p *parser) argList(n *yaml.Node, path string, c *Config) []string {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	field := path[strings.LastIndexByte(path, '.')+1:]
	out := make([]string, 0, len(items))
	for i, it := range items {
		ip := index(path, i)
		c.setLine(index(field, i), it.Line)
		if deref(it).Kind == yaml.MappingNode {
			if a, ok := p.configArg(it, ip); ok {
				a.Field = index(field, i)
				c.Args = append(c.Args, a)
			}
			out = append(out, "")
			continue
		}
		s, _ := p.str(it, ip)
		out = append(out, s)
	}
	return out
}

// envList reads the env list: "NAME=value" strings, or {name,
// installable, path} mappings recorded in c.Args (their place in the list
// stays "" until ResolveArgs).
func (p *parser) envList(n *yaml.Node, path string, c *Config) []string {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		ip := index(path, i)
		c.setLine(index("env", i), it.Line)
		if deref(it).Kind == yaml.MappingNode {
			if a, ok := p.envArg(it, ip); ok {
				a.Field = index("env", i)
				c.Args = append(c.Args, a)
			}
			out = append(out, "")
			continue
		}
		s, ok := p.str(it, ip)
		if !ok {
			continue
		}
		if k, _, hasEq := strings.Cut(s, "="); !hasEq || k == "" {
			p.add(it, ip, "env entry %q must look like NAME=value, or {name: NAME, installable: \".#pkg\", path: \"/lib\"} for a path in a package", s)
		}
		out = append(out, s)
	}
	return out
}

// envArg reads {name: "APP_HOME", installable: ".#app", path: "/share"}.
func (p *parser) envArg(n *yaml.Node, path string) (ConfigArg, bool) {
	f, ok := p.mapping(n, path, envArgKeys...)
	if !ok {
		return ConfigArg{}, false
	}
	e, ok := f["name"]
	if !ok {
		p.missing(n, child(path, "name"), "missing; write {name: APP_HOME, installable: \".#app\", path: /share} to set APP_HOME to the package's /share")
		return ConfigArg{}, false
	}
	name, ok := p.str(e.val, child(path, "name"))
	if !ok {
		return ConfigArg{}, false
	}
	if name == "" || strings.ContainsAny(name, "=\x00") || hasSpaceOrControl(name) {
		p.add(e.val, child(path, "name"), "variable name %q must be non-empty, without '=', spaces or control characters", name)
		return ConfigArg{}, false
	}
	a, ok := p.configArgFields(n, path, f, `write {name: APP_HOME, installable: ".#app", path: /share} to set APP_HOME to the package's /share`)
	a.Name = name
	return a, ok
}

// configArg reads {installable: ".#app", path: "/bin/app"}.
func (p *parser) configArg(n *yaml.Node, path string) (ConfigArg, bool) {
	f, ok := p.mapping(n, path, argKeys...)
	if !ok {
		return ConfigArg{Line: n.Line}, false
	}
	return p.configArgFields(n, path, f, `write {installable: ".#app", path: "/bin/app"} for the program /bin/app of the package .#app`)
}

// configArgFields reads the installable and path of a config item mapping;
// example says how to write one when the installable is missing.
func (p *parser) configArgFields(n *yaml.Node, path string, f map[string]entry, example string) (ConfigArg, bool) {
	a := ConfigArg{Line: n.Line}
	e, ok := f["installable"]
	if !ok {
		p.missing(n, child(path, "installable"), "missing; %s", example)
		return a, false
	}
	s, ok := p.str(e.val, child(path, "installable"))
	if !ok {
		return a, false
	}
	d, msg := p.parseDep(s, e.val.Line)
	switch {
	case msg != "":
		p.add(e.val, child(path, "installable"), "%s", strings.Replace(msg, "dep ", "installable ", 1))
		return a, false
	case d.Kind != Installable:
		p.add(e.val, child(path, "installable"), "%q is a store path; write it as a plain string (%q) instead of a mapping", s, s)
		return a, false
	}
	a.Dep = d
	if e, ok := f["path"]; ok {
		s, ok := p.str(e.val, child(path, "path"))
		if !ok {
			return a, false
		}
		if s != "" && (s[0] != '/' || hasSpaceOrControl(s) || strings.Contains("/"+s+"/", "/../")) {
			p.add(e.val, child(path, "path"), "path %q must be absolute inside the package, like \"/bin/app\", without '..'", s)
			return a, false
		}
		a.Path = strings.TrimSuffix(s, "/")
	}
	return a, true
}

// configCheck reads config.check.
func (p *parser) configCheck(n *yaml.Node, path string) ConfigCheck {
	s, ok := p.str(n, path)
	if !ok {
		return CheckWarn
	}
	switch c := ConfigCheck(s); c {
	case CheckWarn, CheckStrict, CheckOff:
		return c
	}
	p.add(n, path, "check %q must be warn (the default: warn about programs and PATH entries the image lacks), strict (fail the build instead) or off", s)
	return CheckWarn
}

// setLine records the line of a config field ("entrypoint[0]").
func (c *Config) setLine(field string, line int) {
	if line == 0 {
		return
	}
	if c.lines == nil {
		c.lines = map[string]int{}
	}
	c.lines[field] = line
}

// FieldLine is the line of a config field such as "entrypoint[0]" or
// "env[1]" in the plan file, else the line of the config key (0 for a plan
// evaluated from Nix).
func (c *Config) FieldLine(field string) int {
	if l, ok := c.lines[field]; ok {
		return l
	}
	return c.Line
}

// ResolveArgs puts into Entrypoint, Cmd and Env, for every {installable,
// path} item, the store path its installable evaluated to (outputs maps
// each installable's Dep.Value to its output paths) followed by its path
// (for env: NAME=<store path><path>). An
// installable must evaluate to exactly one output. Errors are *Error values
// naming the item; file names the plan, attr its attribute path ("" for a
// file).
func (c *Config) ResolveArgs(file, attr string, outputs map[string][]string) error {
	for _, a := range c.Args {
		outs := outputs[a.Dep.Value]
		if len(outs) != 1 {
			return &Error{File: file, Line: a.Line, Attr: attr, Field: "config." + a.Field + ".installable",
				Msg: fmt.Sprintf("installable %q evaluates to %d outputs (%s); name one, e.g. %q", a.Dep.Raw, len(outs), strings.Join(outs, ", "), a.Dep.Raw+".out")}
		}
		list, i := c.argSlot(a.Field)
		if list == nil || i >= len(*list) {
			continue
		}
		if list == &c.Env {
			(*list)[i] = a.Name + "=" + outs[0] + a.Path
		} else {
			(*list)[i] = outs[0] + a.Path
		}
	}
	return nil
}

// argSlot finds the list and index a field ("cmd[2]") names.
func (c *Config) argSlot(field string) (*[]string, int) {
	var i int
	if _, err := fmt.Sscanf(field, "entrypoint[%d]", &i); err == nil {
		return &c.Entrypoint, i
	}
	if _, err := fmt.Sscanf(field, "cmd[%d]", &i); err == nil {
		return &c.Cmd, i
	}
	if _, err := fmt.Sscanf(field, "env[%d]", &i); err == nil {
		return &c.Env, i
	}
	return nil, 0
}
