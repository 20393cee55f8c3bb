// Command nix-layer-action turns an ordered layer plan of Nix packages into a
// deduplicated, deterministic OCI image and pushes only the layers that
// changed. Run without a subcommand inside GitHub Actions (GITHUB_ACTIONS=true)
// it runs as the action. See internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/org/nix-layer-action/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
