package image

import (
	"fmt"
	"io"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Verify says why the previous layer does not prove it is ours for paths,
// or
// "" when it does: a complete recorded path list equal to the plan's, a
// descriptor of the media type this tool writes for the layer's format
// (mt: tar+gzip or tar+zstd; the key names the format, so a layer under
// a gzip key must be tar+gzip), and a digest, size and diffID equal to
// what was recorded when the layer was built.
func (pl PreviousLayer) Verify(paths []string, mt types.MediaType) string {
	m := pl.Meta
	switch {
	case m.Truncated:
		return "its recorded path list is truncated"
	case !m.RecordsPaths():
		return "it records no path list (not written by nix-layer-action, or rewritten)"
	case !samePaths(m, paths):
		return "its key matches but its recorded paths differ"
	case pl.Descriptor.MediaType != mt:
		return fmt.Sprintf("its media type %s is not the %s this tool writes for its key", pl.Descriptor.MediaType, mt)
	case m.Digest == "":
		return "it records no digest, size and diffID of its own"
	case m.Digest != pl.Descriptor.Digest.String() || m.Size != pl.Descriptor.Size:
		return fmt.Sprintf("its descriptor (%s, %d bytes) disagrees with what was recorded when it was built (%s, %d bytes)",
			pl.Descriptor.Digest, pl.Descriptor.Size, m.Digest, m.Size)
	case m.DiffID != pl.ConfigDiffID.String():
		return fmt.Sprintf("the config's diffID %s disagrees with the recorded %s", pl.ConfigDiffID, m.DiffID)
	}
	return ""
}

// samePaths reports whether m records exactly paths (sorted).
func samePaths(m LayerMeta, paths []string) bool {
	got := make([]string, 0, len(m.Paths))
	for _, p := range m.Paths {
		got = append(got, p.Path)
	}
	slices.Sort(got)
	return slices.Equal(got, paths)
}

// reusedLayer is a verified previous layer: digest, size, diffID and
// media type are the verified values, and its bytes (read only by local
// outputs) come from the registry.
type reusedLayer struct {
	digest, diffID v1.Hash
	size           int64
	mediaType      types.MediaType
	blob           v1.Layer
}

// Reused is the verified layer (see Verify) for a new image: digest,
// size, diffID and media type (mt) as verified, its bytes mountable from
// repo.
func (pl PreviousLayer) Reused(repo name.Repository, mt types.MediaType) v1.Layer {
	l := &reusedLayer{digest: pl.Descriptor.Digest, diffID: pl.ConfigDiffID, size: pl.Descriptor.Size, mediaType: mt, blob: pl.Layer}
	return &remote.MountableLayer{Layer: l, Reference: repo.Digest(l.digest.String())}
}

func (l *reusedLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *reusedLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *reusedLayer) Size() (int64, error)                 { return l.size, nil }
func (l *reusedLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *reusedLayer) Compressed() (io.ReadCloser, error)   { return l.blob.Compressed() }
func (l *reusedLayer) Uncompressed() (io.ReadCloser, error) { return l.blob.Uncompressed() }
