package plan

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

const maxID = 1<<31 - 1

var configKeys = []string{"entrypoint", "cmd", "env", "working-dir", "user", "exposed-ports", "labels", "check"}

func (p *parser) users(n *yaml.Node, path string) []User {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	seen := map[string]string{}
	out := make([]User, 0, len(items))
	for i, it := range items {
		ip := index(path, i)
		f, ok := p.mapping(it, ip, "name", "uid", "gid", "home")
		if !ok {
			continue
		}
		u := User{Line: it.Line}
		if e, ok := f["name"]; !ok {
			p.missing(it, child(ip, "name"), "missing; every user needs a name")
		} else if name, ok := p.str(e.val, child(ip, "name")); ok {
			if msg := checkUserName(name); msg != "" {
				p.add(e.val, child(ip, "name"), "%s", msg)
			} else if first, dup := seen[name]; dup {
				p.add(e.val, child(ip, "name"), "duplicate user name %q (first at %s)", name, first)
			} else {
				seen[name] = p.where(e.val, child(ip, "name"))
			}
			u.Name = name
		}
		if e, ok := f["uid"]; !ok {
			p.missing(it, child(ip, "uid"), "missing; every user needs a uid")
		} else if v, ok := p.integer(e.val, child(ip, "uid"), 0, maxID); ok {
			u.UID = int(v)
		}
		u.GID = u.UID
		if e, ok := f["gid"]; ok {
			if v, ok := p.integer(e.val, child(ip, "gid"), 0, maxID); ok {
				u.GID = int(v)
			}
		}
		if e, ok := f["home"]; !ok {
			p.missing(it, child(ip, "home"), "missing; every user needs a home directory")
		} else if home, ok := p.str(e.val, child(ip, "home")); ok {
			if home == "" || home[0] != '/' || strings.ContainsAny(home, ":\n\x00") {
				p.add(e.val, child(ip, "home"), "home %q must be an absolute path without ':'", home)
			}
			u.Home = home
		}
		out = append(out, u)
	}
	return out
}

func checkUserName(name string) string {
	if name == "" {
		return "user name must not be empty"
	}
	if name[0] == '-' || len(name) > 32 {
		return fmt.Sprintf("user name %q must not start with '-' and have at most 32 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("user name %q may only contain letters, digits, '.', '_' and '-'", name)
		}
	}
	if allDigits(name) {
		return fmt.Sprintf("user name %q must not be all digits", name)
	}
	return ""
}

func (p *parser) perms(n *yaml.Node, path string) []Perm {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	out := make([]Perm, 0, len(items))
	for i, it := range items {
		ip := index(path, i)
		f, ok := p.mapping(it, ip, "path", "mode", "uid", "gid")
		if !ok {
			continue
		}
		pm := Perm{Line: it.Line}
		if e, ok := f["path"]; !ok {
			p.missing(it, child(ip, "path"), "missing; a perm needs a path regexp")
		} else if s, ok := p.str(e.val, child(ip, "path")); ok {
			pm.Path = s
			if s == "" {
				p.add(e.val, child(ip, "path"), "path regexp must not be empty")
			} else if re, err := regexp.Compile(s); err != nil {
				p.add(e.val, child(ip, "path"), "bad regexp %q: %v", s, err)
			} else {
				pm.Regexp = re
			}
		}
		if e, ok := f["mode"]; ok {
			if m, msg := parseMode(e.val); msg != "" {
				p.add(e.val, child(ip, "mode"), "%s", msg)
			} else {
				pm.Mode = &m
			}
		}
		for _, k := range []string{"uid", "gid"} {
			e, ok := f[k]
			if !ok {
				continue
			}
			if v, ok := p.integer(e.val, child(ip, k), 0, maxID); ok {
				id := int(v)
				if k == "uid" {
					pm.UID = &id
				} else {
					pm.GID = &id
				}
			}
		}
		if _, hasMode := f["mode"]; !hasMode && f["uid"].key == nil && f["gid"].key == nil {
			p.missing(it, ip, "a perm must set at least one of mode, uid, gid")
		}
		out = append(out, pm)
	}
	return out
}

// parseMode reads a permission mode. Its digits are always octal, whether
// written as a string ("0755", "755", "0o755") or as a number (755, 0755).
func parseMode(n *yaml.Node) (uint32, string) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int") {
		return 0, fmt.Sprintf("must be an octal mode like \"0755\", got %s", describe(n))
	}
	s := n.Value
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	if digits == "" || len(digits) > 5 {
		return 0, fmt.Sprintf("mode %q must be octal digits like \"0755\"", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '7' {
			return 0, fmt.Sprintf("mode %q must be octal digits like \"0755\" (mode digits are always octal)", s)
		}
	}
	v, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Sprintf("mode %q is larger than 07777", s)
	}
	return uint32(v), ""
}

func (p *parser) config(key, n *yaml.Node, path string, users []User) Config {
	c := Config{Line: key.Line, Check: CheckWarn}
	f, ok := p.mapping(n, path, configKeys...)
	if !ok {
		return c
	}
	if e, ok := f["entrypoint"]; ok {
		c.Entrypoint = p.argList(e.val, child(path, "entrypoint"), &c)
	}
	if e, ok := f["cmd"]; ok {
		c.Cmd = p.argList(e.val, child(path, "cmd"), &c)
	}
	if e, ok := f["env"]; ok {
		c.Env = p.envList(e.val, child(path, "env"), &c)
	}
	if e, ok := f["check"]; ok {
		c.Check = p.configCheck(e.val, child(path, "check"))
	}
	if e, ok := f["working-dir"]; ok {
		if s, ok := p.str(e.val, child(path, "working-dir")); ok {
			if s == "" || s[0] != '/' {
				p.add(e.val, child(path, "working-dir"), "working-dir %q must be an absolute path", s)
			}
			c.WorkingDir = s
		}
	}
	if e, ok := f["user"]; ok {
		if s, ok := p.str(e.val, child(path, "user")); ok {
			if msg := p.checkConfigUser(s, users); msg != "" {
				p.add(e.val, child(path, "user"), "%s", msg)
			}
			c.User = s
		}
	}
	if e, ok := f["exposed-ports"]; ok {
		if items, ok := p.list(e.val, child(path, "exposed-ports")); ok {
			for i, it := range items {
				s, ok := p.str(it, index(child(path, "exposed-ports"), i))
				if !ok {
					continue
				}
				if msg := checkPort(s); msg != "" {
					p.add(it, index(child(path, "exposed-ports"), i), "%s", msg)
				}
				c.ExposedPorts = append(c.ExposedPorts, s)
			}
		}
	}
	if e, ok := f["labels"]; ok {
		lp := child(path, "labels")
		if e.val.Kind != yaml.MappingNode {
			p.add(e.val, lp, "must be a mapping of label names to values, got %s", describe(e.val))
		} else {
			c.Labels = map[string]string{}
			for i := 0; i+1 < len(e.val.Content); i += 2 {
				k, v := deref(e.val.Content[i]), deref(e.val.Content[i+1])
				ks, ok := p.str(k, lp)
				if !ok {
					continue
				}
				if ks == "" {
					p.add(k, lp, "label name must not be empty")
					continue
				}
				if _, dup := c.Labels[ks]; dup {
					p.add(k, child(lp, ks), "duplicate label %q", ks)
					continue
				}
				if vs, ok := p.str(v, child(lp, ks)); ok {
					c.Labels[ks] = vs
				}
			}
		}
	}
	return c
}

// checkConfigUser accepts "uid", "uid:gid", "name" or "name:gid"/"name:group"
// where names must be plan users unless the plan builds on a base image.
func (p *parser) checkConfigUser(s string, users []User) string {
	if s == "" {
		return "user must not be empty"
	}
	u, g, hasGroup := strings.Cut(s, ":")
	if u == "" || hasGroup && g == "" {
		return fmt.Sprintf("user %q must look like \"uid\", \"uid:gid\" or a user name", s)
	}
	for _, part := range []string{u, g} {
		if part == "" || allDigits(part) {
			if part != "" {
				if _, err := strconv.ParseUint(part, 10, 31); err != nil {
					return fmt.Sprintf("user %q: id %s is out of range", s, part)
				}
			}
			continue
		}
		if p.fromSet {
			continue
		}
		found := false
		for _, usr := range users {
			if usr.Name == part {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("user %q: %q is not defined in users (and there is no base image from:)", s, part)
		}
	}
	return ""
}

// checkPort validates "port[/proto]".
func checkPort(s string) string {
	port, proto, hasProto := strings.Cut(s, "/")
	if hasProto && proto != "tcp" && proto != "udp" && proto != "sctp" {
		return fmt.Sprintf("exposed port %q: protocol must be tcp, udp or sctp", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || !allDigits(port) || n < 1 || n > 65535 {
		return fmt.Sprintf("exposed port %q: port must be a number 1..65535", s)
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
