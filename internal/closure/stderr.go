package closure

import (
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
