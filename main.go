// Command nix-layer-action turns an ordered layer plan of Nix packages into a
// deduplicated, deterministic OCI image and pushes only the layers that
// changed. Run without a subcommand inside GitHub Actions (GITHUB_ACTIONS=true)
// it runs as the action. See internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/org/nix-layer-action/internal/cli"
)

// defaultMemoryLimit is the soft heap limit (GOMEMLIMIT) when the
// environment sets none: the work set is the layers in flight (their
// compressors' block buffers), a few tens of MiB, so collecting sooner than
// the default GOGC doubling keeps the resident set near it at no measurable
// cost. It is soft: a larger live heap (a huge closure graph) is still
// served, with the collector's CPU share capped by the runtime.
const defaultMemoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
