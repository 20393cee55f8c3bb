package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/org/nix-layer-action/internal/layer"
)

// newFlagSet is a command's own flag set; --help prints usage (a synopsis
// line and a paragraph) followed by the flags.
func newFlagSet(name string, w io.Writer, usage ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		for _, l := range usage {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; help reports that --help was answered (the
// command then does nothing). A bad flag has already been reported by the
// flag package, so it becomes errSilent.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, errSilent
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

// compressionUsage documents --compression (build, diff and plan: the
// compression enters every layer key).
const compressionUsage = "layer compression: gzip | zstd (zstd pulls need Docker 23+, containerd 1.5+ or podman; switching rebuilds every layer once)"

// layerFormat turns the --compression value into the layer format, with
// an error naming the command and the flag.
func layerFormat(cmd, compression string) (layer.Format, error) {
	f, err := layer.FormatFor(compression)
	if err != nil {
		return layer.Format{}, fmt.Errorf("%s: --compression: %w", cmd, err)
	}
	return f, nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
