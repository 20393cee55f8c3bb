// Package publish writes an assembled image to its destination — a
// registry (pushing only missing blobs), an OCI layout directory, or a
// docker-archive tarball — behind one small interface, so the command line
// and the action choose the destination and the pipeline only builds
// (ko's build/publish split).
package publish

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/regclient"
)

// Publisher writes a built image to one destination.
type Publisher interface {
	// Destination names where images go, for logs and reports
	// ("registry ghcr.io/acme/app:latest", "oci:out/app").
	Destination() string
	// Publish writes img (and, for a registry, every tag) and says what
	// was written. A registry publisher writes the manifest only after
	// every blob is confirmed present.
	Publish(ctx context.Context, img v1.Image) (*Result, error)
}

// Result is what a Publish wrote.
type Result struct {
	Digest      v1.Hash
	BytesPushed int64                            // blob bytes (layers and config) actually sent
	Status      map[v1.Hash]regclient.BlobStatus // every layer and the config, for registries
	Changed     bool                             // the destination held something else (or nothing) before
}

// Kind is a kind of destination.
type Kind string

// Destination kinds.
const (
	KindRegistry      Kind = "registry"
	KindOCI           Kind = "oci"
	KindDockerArchive Kind = "docker-archive"
)

// Output is where the image goes, as the user writes it.
type Output struct {
	Kind Kind
	Path string // directory (oci) or file (docker-archive)
}

// String renders the output the way ParseOutput reads it.
func (o Output) String() string {
	if o.Kind == KindRegistry {
		return string(o.Kind)
	}
	return string(o.Kind) + ":" + o.Path
}

// ParseOutput reads "registry", "oci:DIR" or "docker-archive:FILE".
func ParseOutput(s string) (Output, error) {
	s = strings.TrimSpace(s)
	if s == string(KindRegistry) {
		return Output{Kind: KindRegistry}, nil
	}
	kind, path, ok := strings.Cut(s, ":")
	if ok && (Kind(kind) == KindOCI || Kind(kind) == KindDockerArchive) {
		if path == "" {
			return Output{}, fmt.Errorf("output %q: %s needs a path, e.g. %s:./out", s, kind, kind)
		}
		return Output{Kind: Kind(kind), Path: path}, nil
	}
	return Output{}, fmt.Errorf("unknown output %q: want \"registry\", \"oci:DIR\" or \"docker-archive:FILE\"", s)
}
