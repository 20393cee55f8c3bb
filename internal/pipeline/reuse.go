package pipeline

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
)

// reusable finds a previous layer with il's key that proves it is ours
// (image.PreviousLayer.Verify) and returns the layer to put into the new
// image, built from the verified values. Its blob must also be present
// where it lives, with the size its descriptor claims (one HEAD) — unless
// it is the target's own, listed by the manifest the tag holds: the
// registry keeps those.
// Anything else is rebuilt, with a log line saying why.
func (r *run) reusable(ctx context.Context, il *imageLayer) (v1.Layer, image.PreviousLayer, bool) {
	for _, prev := range r.prevs {
		prevL, ok := prev.ByKey(il.plan.Key)
		if !ok {
			continue
		}
		mt := il.plan.Spec.Format.MediaType()
		why := prevL.Verify(il.plan.Paths(), mt)
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
		return prevL.Reused(prev.Ref.Context(), mt), prevL, true
	}
	return nil, image.PreviousLayer{}, false
}

// listedByTarget reports whether prev is the target and the publisher
// knows its manifest lists d.
func (r *run) listedByTarget(prev *image.Previous, d v1.Hash) bool {
	return r.listed != nil && prev == targetOf(r.o.Target, r.prevs) && r.listed(d)
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
