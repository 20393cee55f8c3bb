// Command demo-registry serves an in-memory OCI registry
// (go-containerregistry's pkg/registry) on a free loopback port, so that
// scripts/example.sh can push without any registry installed. Once
// listening it prints "127.0.0.1:PORT" and, with -addr-file, writes it to
// that file (atomically, so a reader never sees half of it). It serves until
// SIGINT or SIGTERM. Everything pushed is lost when it stops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addrFile := flag.String("addr-file", "", "write the listen address (127.0.0.1:PORT) to this file once listening")
	verbose := flag.Bool("v", false, "log every request to stderr")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addrFile, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "demo-registry:", err)
		os.Exit(1)
	}
}

// serve listens on a free loopback port, announces the address and serves
// the registry until ctx ends.
func serve(ctx context.Context, addrFile string, verbose bool) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening on loopback: %w", err)
	}
	logOut := io.Discard
	if verbose {
		logOut = os.Stderr
	}
	srv := &http.Server{
		Handler:           registry.New(registry.Logger(log.New(logOut, "demo-registry: ", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	if addrFile != "" {
		if err := writeAtomic(addrFile, addr+"\n"); err != nil {
			srv.Close()
			return fmt.Errorf("writing -addr-file: %w", err)
		}
	}
	fmt.Println(addr)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeAtomic writes through a temp file in the same directory and renames
// it into place.
func writeAtomic(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".addr-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
