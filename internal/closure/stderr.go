package closure

import (
	"bytes"
	"io"
	"regexp"
	"strings"
)

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// TrimNixStderr reduces Nix's stderr to its meaningful part: every block
// starting with an "error:" line, together with its indented continuation
// lines (e.g. a failed builder's log tail). Progress lines, warnings and
// "building '…'" chatter are dropped. Without any "error:" line the last few
// non-empty lines are returned.
func TrimNixStderr(stderr string) string {
	lines := strings.Split(strings.ReplaceAll(ansiRE.ReplaceAllString(stderr, ""), "\r", ""), "\n")
	var out []string
	in := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "error:") || strings.HasPrefix(l, "error ("):
			in = true
			out = append(out, strings.TrimRight(l, " \t"))
		case in && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")):
			out = append(out, strings.TrimRight(l, " \t"))
		default:
			in = false
		}
	}
	if len(out) == 0 {
		for _, l := range lines {
			if t := strings.TrimSpace(l); t != "" {
				out = append(out, t)
			}
		}
		if len(out) > 5 {
			out = out[len(out)-5:]
		}
	}
	// Drop trailing blank continuation lines.
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// progressOnly passes Nix's stderr through line by line without its error
// blocks: those are reported once, in the *NixError, not twice. It also
// drops the blocks saying what Nix would build or fetch ("these 3
// derivations will be built:", "don't know how to build these paths:"):
// an evaluation-only call never does either, `nix path-info` prints the
// latter for any path the store lacks (which reads like an error), and
// before a build the pipeline says in its own words what will be built
// and why (see ParseDryRun).
type progressOnly struct {
	w       io.Writer
	pending []byte
	inError bool
	inPlan  bool
}

// dryRunPlanRE matches the head of a block Nix prints about what it would
// do, in every spelling from 2.8 on.
var dryRunPlanRE = regexp.MustCompile(`^(these (\d+ )?(derivations|paths) (will|would) be (built|fetched)|this (derivation|path) (will|would) be (built|fetched)|don't know how to build these paths)`)

func (p *progressOnly) Write(b []byte) (int, error) {
	p.pending = append(p.pending, b...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.line(p.pending[:i+1])
		p.pending = p.pending[i+1:]
	}
}

func (p *progressOnly) line(l []byte) {
	plain := ansiRE.ReplaceAll(l, nil)
	switch {
	case bytes.HasPrefix(plain, []byte("error:")) || bytes.HasPrefix(plain, []byte("error (")):
		p.inError = true
		return
	case p.inError && (bytes.HasPrefix(plain, []byte(" ")) || bytes.HasPrefix(plain, []byte("\t"))):
		return
	case dryRunPlanRE.Match(plain):
		p.inPlan = true
		return
	case p.inPlan && bytes.HasPrefix(plain, []byte(" ")):
		return
	}
	p.inError, p.inPlan = false, false
	_, _ = p.w.Write(l)
}

// flush passes on an unterminated last line.
func (p *progressOnly) flush() {
	if len(p.pending) > 0 {
		p.line(p.pending)
		p.pending = nil
	}
}

// DryRun is what a `nix build` would do, as its --dry-run says on stderr.
type DryRun struct {
	Build   []string // derivations (.drv) that would be built
	Fetch   []string // store paths that would be fetched from a substituter
	Unknown []string // store paths Nix does not know how to build or fetch
}

// ParseDryRun reads the blocks a `nix build --dry-run` prints, in every
// spelling from 2.8 on: "these N derivations will be built:" (or "this
// derivation will be built:"), "these N paths will be fetched (…):" (or
// "this path …"), "don't know how to build these paths:", each followed by
// indented store paths. Other lines are ignored.
func ParseDryRun(stderr string) DryRun {
	var d DryRun
	var into *[]string
	for _, l := range strings.Split(strings.ReplaceAll(ansiRE.ReplaceAllString(stderr, ""), "\r", ""), "\n") {
		switch m := dryRunPlanRE.FindStringSubmatch(l); {
		case m != nil && strings.HasPrefix(m[0], "don't know"):
			into = &d.Unknown
		case m != nil && strings.HasSuffix(m[0], "built"):
			into = &d.Build
		case m != nil:
			into = &d.Fetch
		case into != nil && strings.HasPrefix(l, " ") && strings.HasPrefix(strings.TrimSpace(l), "/"):
			*into = append(*into, strings.TrimSpace(l))
		default:
			into = nil
		}
	}
	return d
}
