package substituter

import (
	"bufio"
	"fmt"
	"strings"
)

// netrcEntry is one machine (or the default) of a netrc file.
type netrcEntry struct {
	machine  string // "" for the default entry
	login    string
	password string
}

// netrc holds the entries of a netrc file, in file order.
type netrc struct {
	entries []netrcEntry
}

// parseNetrc parses the netrc format curl (and so Nix) reads: whitespace
// separated tokens "machine NAME", "default", "login L", "password P",
// "account A", and "macdef NAME" whose body runs to the next empty line.
// A "#" at the start of a token starts a comment to the end of the line.
// Errors never quote a password.
func parseNetrc(text string) (*netrc, error) {
	toks := netrcTokens(text)
	n := &netrc{}
	var cur *netrcEntry
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.macro {
			continue
		}
		switch t.text {
		case "machine", "default":
			n.entries = append(n.entries, netrcEntry{})
			cur = &n.entries[len(n.entries)-1]
			if t.text == "default" {
				continue
			}
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("netrc line %d: machine without a name", t.line)
			}
			i++
			cur.machine = toks[i].text
		case "login", "password", "account", "macdef":
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("netrc line %d: %s without a value", t.line, t.text)
			}
			i++
			if cur == nil && t.text != "macdef" {
				return nil, fmt.Errorf("netrc line %d: %s before any machine", t.line, t.text)
			}
			switch t.text {
			case "login":
				cur.login = toks[i].text
			case "password":
				cur.password = toks[i].text
			}
		default:
			return nil, fmt.Errorf("netrc line %d: unexpected token", t.line)
		}
	}
	return n, nil
}

type netrcToken struct {
	text  string
	line  int
	macro bool // inside a macdef body
}

// netrcTokens splits text into tokens, dropping comments and marking
// macdef bodies (which follow the macdef line up to an empty line).
func netrcTokens(text string) []netrcToken {
	var out []netrcToken
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	inMacro, line := false, 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if inMacro {
			if strings.TrimSpace(l) == "" {
				inMacro = false
			}
			continue
		}
		fields := strings.Fields(l)
		for j, f := range fields {
			if strings.HasPrefix(f, "#") {
				break
			}
			out = append(out, netrcToken{text: f, line: line})
			if f == "macdef" && j+1 < len(fields) {
				inMacro = true
			}
		}
	}
	return out
}

// lookup returns the credentials for host: the first entry whose machine
// equals host (case-insensitively), else the default entry.
func (n *netrc) lookup(host string) (login, password string, ok bool) {
	if n == nil {
		return "", "", false
	}
	var def *netrcEntry
	for i := range n.entries {
		e := &n.entries[i]
		if e.machine == "" {
			if def == nil {
				def = e
			}
			continue
		}
		if strings.EqualFold(e.machine, host) {
			return e.login, e.password, true
		}
	}
	if def != nil {
		return def.login, def.password, true
	}
	return "", "", false
}
