// Package cli is nix-layer-action's command line: one flag set per
// command, the environment read only through the Getenv it is given, and
// every command wired to the pipeline with the publisher, registry client
// and secrets it chose. Run without a command inside GitHub Actions
// (GITHUB_ACTIONS=true) it runs as the action.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/org/nix-layer-action/internal/publish"
)

// errSilent marks an error that has already been reported (e.g. as an
// Actions annotation or by flag parsing).
var errSilent = errors.New("error already reported")

// command is one subcommand: it owns its flag set.
type command interface {
	Name() string
	Synopsis() string
	Run(ctx context.Context, args []string) error
}

// Env is what the CLI reads from the process: its environment (through
// Getenv only) and its output streams.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

// Main runs the command line with args (without the program name) and
// returns the process exit status, having printed any error to Stderr.
// interrupted reports whether ctx was cancelled by a signal.
func Main(ctx context.Context, args []string, e Env) int {
	err := Run(ctx, args, e)
	if err == nil {
		return 0
	}
	var published *publish.PublishedError
	if ctx.Err() != nil && !errors.As(err, &published) {
		// What failed because of the interruption (a Nix build that was
		// stopped, an upload cut short) is not news: say only this.
		fmt.Fprintln(e.Stderr, "nix-layer-action: interrupted: nothing was tagged (unless the manifest upload had already finished), temporary files removed")
		return exitFailed
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintln(e.Stderr, "nix-layer-action:", err)
	}
	return exitStatus(err)
}

// Exit statuses (README "Exit status").
const (
	exitFailed    = 1 // nothing was published (or the run failed before)
	exitPublished = 3 // the image was published, but a report, SBOM, step output or summary could not be written
)

// exitStatus is err's exit status.
func exitStatus(err error) int {
	var pe *publish.PublishedError
	if errors.As(err, &pe) {
		return exitPublished
	}
	return exitFailed
}

// Run runs one command line and returns its error.
func Run(ctx context.Context, args []string, e Env) error {
	cmds := commands(e)
	if len(args) == 0 {
		if e.Getenv("GITHUB_ACTIONS") == "true" {
			return runAction(ctx, e)
		}
		usage(e.Stderr, cmds)
		return errSilent
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(e.Stdout, cmds)
		return nil
	case "help":
		return help(e, cmds, args[1:])
	case "-version", "--version", "version":
		fmt.Fprintln(e.Stdout, "nix-layer-action", Version())
		return nil
	case "action":
		return actionCmd(ctx, e, args[1:])
	}
	for _, c := range cmds {
		if c.Name() == args[0] {
			return c.Run(ctx, args[1:])
		}
	}
	return unknownCommand(e, cmds, args[0])
}

func commands(e Env) []command {
	return []command{
		&buildCmd{Env: e},
		&planCmd{Env: e},
		&diffCmd{Env: e},
		&mergeCmd{Env: e},
		&tagCmd{Env: e},
	}
}

// commandNames are every command's name, for suggestions.
func commandNames(cmds []command) []string {
	names := []string{"action", "help", "version"}
	for _, c := range cmds {
		names = append(names, c.Name())
	}
	return names
}

// unknownCommand reports a command (or a flag given before one) that does
// not exist, with the nearest name.
func unknownCommand(e Env, cmds []command, name string) error {
	if strings.HasPrefix(name, "-") {
		return fmt.Errorf("%s is not a flag of nix-layer-action itself: flags follow a command, as in 'nix-layer-action build %s …' (commands: %s)", name, name, strings.Join(commandNames(cmds), ", "))
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := suggest(name, commandNames(cmds)); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return fmt.Errorf("%s (run 'nix-layer-action --help' for the commands)", msg)
}

// help answers "help" and "help COMMAND".
func help(e Env, cmds []command, args []string) error {
	if len(args) == 0 {
		usage(e.Stdout, cmds)
		return nil
	}
	if args[0] == "action" {
		return actionCmd(context.Background(), e, []string{"--help"})
	}
	for _, c := range cmds {
		if c.Name() == args[0] {
			return c.Run(context.Background(), []string{"--help"})
		}
	}
	return unknownCommand(e, cmds, args[0])
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "usage: nix-layer-action <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-8s %s\n", c.Name(), c.Synopsis())
	}
	fmt.Fprintln(w, "  action   run as the GitHub Action (the default when GITHUB_ACTIONS=true)")
	fmt.Fprintln(w, "  version  print the version (also --version)")
	fmt.Fprintln(w, "  help     print this help, or a command's ('help build')")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'nix-layer-action <command> --help' for a command's flags.")
}
