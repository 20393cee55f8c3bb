package multiarch

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DuplicatePlatformError reports two images for the same platform.
type DuplicatePlatformError struct {
	Platform string
	Digests  [2]v1.Hash
}

// Error implements error.
func (e *DuplicatePlatformError) Error() string {
	return fmt.Sprintf("multiarch: images %s and %s are both for platform %s; each platform may appear once",
		e.Digests[0], e.Digests[1], e.Platform)
}

// IndexInputError reports a digest to merge that is itself an image index.
// Merge takes per-platform images only (see the package doc).
type IndexInputError struct {
	Digest v1.Hash
}

// Error implements error.
func (e *IndexInputError) Error() string {
	return fmt.Sprintf("multiarch: %s is an image index, not a per-platform image; merge the images it lists instead (FindPlatform picks one out)", e.Digest)
}

// NotImageError reports a digest whose manifest is neither an image nor an
// index (a Docker schema 1 manifest, an artifact of another type).
type NotImageError struct {
	Digest    v1.Hash
	MediaType types.MediaType
}

// Error implements error.
func (e *NotImageError) Error() string {
	return fmt.Sprintf("multiarch: %s has media type %q, not an OCI or Docker image manifest", e.Digest, e.MediaType)
}

// MissingPlatformError reports an image whose config names no OS or
// architecture, so it cannot be placed in an index.
type MissingPlatformError struct {
	Digest   v1.Hash
	Platform string // what the config says, possibly ""
}

// Error implements error.
func (e *MissingPlatformError) Error() string {
	return fmt.Sprintf("multiarch: image %s has no os/architecture in its config (got %q)", e.Digest, e.Platform)
}

// PlatformNotFoundError reports that FindPlatform found no child for the
// wanted platform.
type PlatformNotFoundError struct {
	Want      string
	Available []string // platforms present, in index order
}

// Error implements error.
func (e *PlatformNotFoundError) Error() string {
	if len(e.Available) == 0 {
		return fmt.Sprintf("multiarch: no image for platform %s (none has a platform)", e.Want)
	}
	return fmt.Sprintf("multiarch: no image for platform %s (have %s)", e.Want, strings.Join(e.Available, ", "))
}
