package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// AnnotationRefName is the OCI layout index annotation naming an image.
const AnnotationRefName = "org.opencontainers.image.ref.name"

// OCILayout writes images into an OCI image layout directory (created when
// missing), naming each in the index with AnnotationRefName; an image
// already in the layout under the same name is replaced.
type OCILayout struct {
	Dir     string
	RefName string // "" = no name
}

// Destination is "oci:DIR".
func (o *OCILayout) Destination() string { return string(KindOCI) + ":" + o.Dir }

// Publish writes img into the layout.
func (o *OCILayout) Publish(_ context.Context, img v1.Image) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("oci layout: image digest: %w", err)
	}
	p, err := openLayout(o.Dir)
	if err != nil {
		return nil, err
	}
	if o.RefName == "" {
		err = p.AppendImage(img)
	} else {
		ann := map[string]string{AnnotationRefName: o.RefName}
		err = p.ReplaceImage(img, match.Annotation(AnnotationRefName, o.RefName), layout.WithAnnotations(ann))
	}
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: write image: %w", o.Dir, err)
	}
	return &Result{Digest: digest, Changed: true}, nil
}

func openLayout(dir string) (layout.Path, error) {
	p, err := layout.FromPath(dir)
	if err == nil {
		return p, nil
	}
	if _, statErr := os.Stat(filepath.Join(dir, "index.json")); !errors.Is(statErr, os.ErrNotExist) {
		return "", fmt.Errorf("oci layout %s: %w", dir, err)
	}
	if p, err = layout.Write(dir, empty.Index); err != nil {
		return "", fmt.Errorf("oci layout %s: create: %w", dir, err)
	}
	return p, nil
}

// DockerArchive writes an image as a `docker load`-able tarball, tagged
// Ref. The archive stores Docker-format metadata; the config bytes, and so
// the image's identity, are the same.
type DockerArchive struct {
	File string
	Ref  name.Reference
}

// Destination is "docker-archive:FILE".
func (d *DockerArchive) Destination() string { return string(KindDockerArchive) + ":" + d.File }

// Publish writes the tarball.
func (d *DockerArchive) Publish(_ context.Context, img v1.Image) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("docker archive: image digest: %w", err)
	}
	if err := tarball.WriteToFile(d.File, d.Ref, img); err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", d.File, err)
	}
	return &Result{Digest: digest, Changed: true}, nil
}
