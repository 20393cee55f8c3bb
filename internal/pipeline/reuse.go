package pipeline

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
)

// reusable finds a previous layer with il's key that proves it is ours
// (see verify) and returns the layer to put into the new image, built from
// the verified values. Its blob must also be present where it lives, with
// the size its descriptor claims (one HEAD) — unless it is the target's
// own, listed by the manifest the tag holds: the registry keeps those.
// Anything else is rebuilt, with a log line saying why.
func (r *run) reusable(ctx context.Context, il *imageLayer) (v1.Layer, image.PreviousLayer, bool) {
	for _, prev := range r.prevs {
		prevL, ok := prev.ByKey(il.plan.Key)
		if !ok {
			continue
		}
		mt := il.plan.Spec.Format.MediaType()
		why := verify(prevL, il.plan.Paths(), mt)
		if why == "" && il.plan.Spec.Format.Compression == layer.ZstdChunked && len(formatAnnotations(prevL.Descriptor.Annotations)) != 2 {
			why = "its descriptor lacks the zstd:chunked annotations (" + layer.ChunkedManifestChecksum + ", " + layer.ChunkedManifestPosition + ")"
		}
		if why == "" && !r.listedByTarget(prev, prevL.Descriptor.Digest) {
			why = r.blobThere(ctx, prev.Ref.Context(), prevL.Descriptor)
		}
		if why != "" {
			r.log.printf("not reusing layer %s from %s: %s", il.plan.Name(), prev.Ref, why)
			continue
		}
		return newReused(prev.Ref.Context(), prevL, mt), prevL, true
	}
	return nil, image.PreviousLayer{}, false
}

// listedByTarget reports whether prev is the target and the publisher
// knows its manifest lists d.
func (r *run) listedByTarget(prev *image.Previous, d v1.Hash) bool {
	return r.listed != nil && prev == targetOf(r.o.Target, r.prevs) && r.listed(d)
}

// verify says why a previous layer does not prove it is ours for paths, or
// "" when it does: a complete recorded path list equal to the plan's, a
// descriptor of the media type this tool writes for the layer's format
// (mt: tar+gzip or tar+zstd; the key names the format, so a layer under
// a gzip key must be tar+gzip), and a digest, size and diffID equal to
// what was recorded when the layer was built.
func verify(pl image.PreviousLayer, paths []string, mt types.MediaType) string {
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

// blobThere checks (HEAD) that the blob is in repo with the descriptor's
// size; it returns why not, or "".
func (r *run) blobThere(ctx context.Context, repo name.Repository, d v1.Descriptor) string {
	size, ok, err := r.o.Registry.BlobSize(ctx, repo, d.Digest)
	switch {
	case err != nil:
		return fmt.Sprintf("checking blob %s: %v", d.Digest, r.o.Registry.Err(err))
	case !ok:
		return fmt.Sprintf("blob %s is not there", d.Digest)
	case size != d.Size:
		return fmt.Sprintf("blob %s is %d bytes, its descriptor says %d", d.Digest, size, d.Size)
	}
	return ""
}

// formatAnnotations picks from a previous layer descriptor's annotations
// those its format needs (zstd:chunked's), to carry them onto the new
// image's descriptor with the reused blob; nil when there are none.
func formatAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for _, k := range []string{layer.ChunkedManifestChecksum, layer.ChunkedManifestPosition} {
		if v, ok := a[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

func samePaths(m image.LayerMeta, paths []string) bool {
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

// newReused returns the layer for the new image, mountable from repo.
func newReused(repo name.Repository, pl image.PreviousLayer, mt types.MediaType) v1.Layer {
	l := &reusedLayer{digest: pl.Descriptor.Digest, diffID: pl.ConfigDiffID, size: pl.Descriptor.Size, mediaType: mt, blob: pl.Layer}
	return &remote.MountableLayer{Layer: l, Reference: repo.Digest(l.digest.String())}
}

func (l *reusedLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *reusedLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *reusedLayer) Size() (int64, error)                 { return l.size, nil }
func (l *reusedLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *reusedLayer) Compressed() (io.ReadCloser, error)   { return l.blob.Compressed() }
func (l *reusedLayer) Uncompressed() (io.ReadCloser, error) { return l.blob.Uncompressed() }
