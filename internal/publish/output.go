// Package publish writes an assembled image to its destination: a
// registry (pushing only missing blobs), an OCI layout directory, or a
// docker-archive tarball.
package publish

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Output kinds.
const (
	KindRegistry      = "registry"
	KindOCI           = "oci"
	KindDockerArchive = "docker-archive"
)

// AnnotationRefName is the OCI layout index annotation naming an image.
const AnnotationRefName = "org.opencontainers.image.ref.name"

// Output is where the image goes.
type Output struct {
	Kind string // "registry", "oci", "docker-archive"
	Path string // directory (oci) or file (docker-archive)
}

// String renders the output the way ParseOutput reads it.
func (o Output) String() string {
	if o.Kind == KindRegistry {
		return o.Kind
	}
	return o.Kind + ":" + o.Path
}

// ParseOutput reads "registry", "oci:DIR" or "docker-archive:FILE".
func ParseOutput(s string) (Output, error) {
	s = strings.TrimSpace(s)
	if s == KindRegistry {
		return Output{Kind: KindRegistry}, nil
	}
	kind, path, ok := strings.Cut(s, ":")
	if ok && (kind == KindOCI || kind == KindDockerArchive) {
		if path == "" {
			return Output{}, fmt.Errorf("output %q: %s needs a path, e.g. %s:./out", s, kind, kind)
		}
		return Output{Kind: kind, Path: path}, nil
	}
	return Output{}, fmt.Errorf("unknown output %q: want \"registry\", \"oci:DIR\" or \"docker-archive:FILE\"", s)
}

// OCILayout writes img into the OCI image layout at dir (created when
// missing), naming it ref in the index with the
// org.opencontainers.image.ref.name annotation. An image already in the
// layout under the same ref is replaced. Returns the manifest digest.
func OCILayout(dir string, img v1.Image, ref string) (v1.Hash, error) {
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("oci layout: image digest: %w", err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "index.json")); !errors.Is(statErr, os.ErrNotExist) {
			return v1.Hash{}, fmt.Errorf("oci layout %s: %w", dir, err)
		}
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return v1.Hash{}, fmt.Errorf("oci layout %s: create: %w", dir, err)
		}
	}
	if ref == "" {
		if err := p.AppendImage(img); err != nil {
			return v1.Hash{}, fmt.Errorf("oci layout %s: write image: %w", dir, err)
		}
		return digest, nil
	}
	ann := map[string]string{AnnotationRefName: ref}
	if err := p.ReplaceImage(img, match.Annotation(AnnotationRefName, ref), layout.WithAnnotations(ann)); err != nil {
		return v1.Hash{}, fmt.Errorf("oci layout %s: write image: %w", dir, err)
	}
	return digest, nil
}

// DockerArchive writes img as a `docker load`-able tarball at file,
// tagged ref. Returns the manifest digest of img (the archive itself
// stores Docker-format metadata; the config bytes are the same).
func DockerArchive(file string, img v1.Image, ref name.Reference) (v1.Hash, error) {
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("docker archive: image digest: %w", err)
	}
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		return v1.Hash{}, fmt.Errorf("docker archive %s: %w", file, err)
	}
	return digest, nil
}
