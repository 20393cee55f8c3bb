// Command nix-layer-action turns an ordered layer plan of Nix packages into a
// deduplicated, deterministic OCI image and pushes only the layers that
// changed. Run without a subcommand inside GitHub Actions (GITHUB_ACTIONS=true)
// it runs as the action.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		if interrupted {
			fmt.Fprintln(os.Stderr, "nix-layer-action: interrupted: nothing was tagged (unless the manifest upload had already finished), temporary files removed")
		}
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "nix-layer-action:", err)
		}
		os.Exit(1)
	}
}

// errSilent marks an error that has already been reported (e.g. as an
// Actions annotation or by flag parsing).
var errSilent = errors.New("error already reported")

// command is one subcommand: it owns its flag set.
type command interface {
	Name() string
	Synopsis() string
	Run(ctx context.Context, args []string) error
}

// env is what the CLI reads from the process environment, at the edge only.
type env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

func realMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{Getenv: getenv, Stdout: stdout, Stderr: stderr}
	cmds := []command{
		&buildCmd{env: e},
		&planCmd{env: e},
		&diffCmd{env: e},
	}
	if len(args) == 0 {
		if getenv("GITHUB_ACTIONS") == "true" {
			return runAction(ctx, e)
		}
		usage(stderr, cmds)
		return errSilent
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout, cmds)
		return nil
	case "action":
		return runAction(ctx, e)
	}
	for _, c := range cmds {
		if c.Name() == args[0] {
			return c.Run(ctx, args[1:])
		}
	}
	usage(stderr, cmds)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "usage: nix-layer-action <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-8s %s\n", c.Name(), c.Synopsis())
	}
	fmt.Fprintln(w, "  action   run as the GitHub Action (the default when GITHUB_ACTIONS=true)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'nix-layer-action <command> --help' for a command's flags.")
}
