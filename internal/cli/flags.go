package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/request"
)

// flagSet is a command's flags with its own usage text: flags are spelt
// --flag, help goes to stdout, and mistakes get one line on stderr with a
// suggestion instead of the whole usage.
type flagSet struct {
	*flag.FlagSet
	usage  []string // synopsis line and paragraph
	stdout io.Writer
}

// newFlagSet is a command's own flag set; --help prints usage (a synopsis
// line and a paragraph) followed by the flags, to w.
func newFlagSet(name string, w io.Writer, usage ...string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by parseFlags
	return &flagSet{FlagSet: fs, usage: usage, stdout: w}
}

// printUsage writes the usage and every flag as "--name TYPE", with its
// description and default.
func (fs *flagSet) printUsage(w io.Writer) {
	for _, l := range fs.usage {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "flags:")
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  %s\n", flagSynopsis(f))
		fmt.Fprintf(w, "        %s%s\n", f.Usage, defaultNote(f))
	})
	fmt.Fprintln(w, "  -h, --help")
	fmt.Fprintln(w, "        print this help")
}

// flagSynopsis is "--name TYPE" ("--name" for a boolean).
func flagSynopsis(f *flag.Flag) string {
	if isBool(f) {
		return "--" + f.Name
	}
	if m, ok := metavars[f.Name]; ok {
		return "--" + f.Name + " " + m
	}
	typ, _ := flag.UnquoteUsage(f)
	if typ == "" || typ == "value" || typ == "string" {
		typ = "VALUE"
	}
	return "--" + f.Name + " " + strings.ToUpper(typ)
}

// metavars name the values of the commands' flags in their usage.
var metavars = map[string]string{
	"plan": "FILE", "image": "REF", "cache-from": "REF", "against": "REF", "output": "DEST",
	"report": "FILE", "markdown": "FILE", "tag": "TAG", "temp-dir": "DIR", "system": "SYSTEM",
	"jobs": "N", "upload-jobs": "N", "nix": "COMMAND", "registry-timeout": "DURATION",
	"compression": "gzip|zstd|zstd:chunked", "annotation": "KEY=VALUE", "label": "KEY=VALUE", "sbom": "FILE", "shard": "I/N",
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// defaultNote is " (default X)" unless the default is the zero value or
// the description already says it.
func defaultNote(f *flag.Flag) string {
	switch d := f.DefValue; {
	case d == "" || d == "0" || d == "false" || strings.Contains(f.Usage, "(default"):
		return ""
	case d == "true" && strings.Contains(f.Usage, "--"+f.Name+"=false"):
		return " (default true)"
	case d == "true":
		return " (default true; --" + f.Name + "=false to turn off)"
	default:
		return " (default " + d + ")"
	}
}

// parseFlags parses args; help reports that --help was answered (usage on
// stdout; the command then does nothing). A mistake is reported on stderr
// (w) as one line naming the flag, with a suggestion, and becomes
// errSilent.
func parseFlags(fs *flagSet, args []string, stderr io.Writer) (help bool, err error) {
	help, rest, err := parseFlagsArgs(fs, args, stderr)
	if help || err != nil {
		return help, err
	}
	if len(rest) > 0 {
		return false, fmt.Errorf("%s: unexpected argument %q (every input is a flag; see 'nix-layer-action %s --help')", fs.Name(), rest[0], fs.Name())
	}
	return false, nil
}

// parseFlagsArgs is parseFlags for commands that take arguments after
// their flags: it returns them.
func parseFlagsArgs(fs *flagSet, args []string, stderr io.Writer) (help bool, rest []string, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.printUsage(fs.stdout)
			return true, nil, nil
		}
		fmt.Fprintf(stderr, "nix-layer-action %s: %s\nRun 'nix-layer-action %s --help' for its flags.\n", fs.Name(), fs.explain(err), fs.Name())
		return false, nil, errSilent
	}
	return false, fs.Args(), nil
}

// compressionUsage documents --compression (build, diff and plan: the
// compression enters every layer key).
const compressionUsage = "layer compression: gzip | zstd | zstd:chunked (zstd pulls need Docker 23+, containerd 1.5+ or podman; zstd:chunked is zstd that podman/CRI-O with partial pulls fetch file by file; switching rebuilds every layer once)"

// layerFormat turns the --compression value into the layer format, with
// an error naming the command and the flag.
func layerFormat(cmd, compression string) (layer.Format, error) {
	f, err := layer.FormatFor(compression)
	if err != nil {
		return layer.Format{}, fmt.Errorf("%s: --compression: %w", cmd, err)
	}
	return f, nil
}

// explain rewrites the flag package's message with --flag spelling and,
// for an unknown flag, the nearest known one.
func (fs *flagSet) explain(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		out := fmt.Sprintf("unknown flag --%s", name)
		if s := suggest(name, fs.names()); s != "" {
			out += fmt.Sprintf("; did you mean --%s?", s)
		}
		return out
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Sprintf("flag --%s needs a value", strings.TrimLeft(name, "-"))
	}
	// "invalid value "x" for flag -jobs: parse error"
	return strings.Replace(msg, " for flag -", " for flag --", 1)
}

func (fs *flagSet) names() []string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}

// suggest is the candidate nearest to s, if it is at most 2 edits away.
func suggest(s string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	best, bestD := "", 3
	for _, c := range sorted {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b (insertions, deletions,
// substitutions of bytes).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// planFlags are the flags of every command that resolves a plan (build,
// plan, diff): the plan, the Nix that runs, the system and the
// compression (which enters every layer key).
type planFlags struct {
	planFile, nixBin, system, compression string
}

// add defines the flags; system and compression describe those two for
// the command.
func (f *planFlags) add(fs *flag.FlagSet, system, compression string) {
	fs.StringVar(&f.planFile, "plan", "", "layer plan: a file (YAML or JSON) or a flake output (.#imagePlan) (required)")
	fs.StringVar(&f.nixBin, "nix", "nix", "nix command to run")
	fs.StringVar(&f.system, "system", "", system)
	fs.StringVar(&f.compression, "compression", "gzip", compression)
}

// request is the command's request of what the flags say: the plan and
// how Nix resolves it, the compression parsed (an error names the flag).
func (f *planFlags) request(cmd string) (*request.Request, error) {
	format, err := layerFormat(cmd, f.compression)
	if err != nil {
		return nil, err
	}
	return &request.Request{PlanFile: f.planFile, NixBin: f.nixBin, System: f.system, Format: format}, nil
}
