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
// blocks: those are reported once, in the *NixError, not twice. With
// dryRun it also drops what a --dry-run would build or fetch ("these 3
// derivations will be built:", "don't know how to build these paths:"),
// which an evaluation-only call never does.
type progressOnly struct {
	w       io.Writer
	pending []byte
	inError bool
	dryRun  bool
	inPlan  bool
}

// dryRunPlanRE matches the head of a block a --dry-run prints about what
// it would do.
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
	case p.dryRun && dryRunPlanRE.Match(plain):
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
