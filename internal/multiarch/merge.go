// Package multiarch turns per-platform images, each pushed by digest from
// its own job of a build matrix, into one multi-platform OCI image index,
// and moves tags onto digests.
//
// The flow, as with docker/build-push-action: every matrix job pushes its
// image by digest and moves no tag; one final job calls Merge with all the
// digests. Merge reads only each image's manifest and config (never a
// layer), takes the platform from the config, and pushes an OCI index
// whose children are sorted by platform, then digest. Pushing is
// idempotent: a tag (or, without tags, the digest) that already holds
// exactly this index is left alone, so merging the same digests twice
// writes nothing the second time.
//
// A digest that is itself an index is refused (*IndexInputError) rather
// than flattened: Merge's inputs are meant to be fresh per-platform
// builds, and an index among them is almost always the tag's previous
// multi-arch image passed by mistake, whose stale platforms flattening
// would silently carry forward (or whose attestation children, platform
// unknown/unknown, it would have to guess about). Callers that do want a
// child of an index pick it out with FindPlatform and merge that.
package multiarch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ociAnnotationPrefix selects which of a child manifest's annotations are
// copied onto its descriptor in the index: the pre-defined OCI keys
// (revision, created, version, source, …), which tell platforms apart
// when they were built from different commits or at different times.
const ociAnnotationPrefix = "org.opencontainers.image."

// refNameAnnotation is never copied: on an index descriptor it names a
// tag in an OCI layout, which a child's manifest cannot decide.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Child is one image in a merged index.
type Child struct {
	Digest   v1.Hash
	Platform v1.Platform
}

// Result is what Merge built and did.
type Result struct {
	// Digest is the index's manifest digest.
	Digest v1.Hash
	// Manifest is the index exactly as pushed.
	Manifest []byte
	// Children are the images in index order.
	Children []Child
	// Pushed lists the references written; Unchanged those that already
	// held this index.
	Pushed, Unchanged []string
}

// Merge builds an OCI image index over the images digests in repo and
// pushes it to the tags given with WithTags (by digest when there are
// none). Repeated digests count once. It fails with *IndexInputError,
// *NotImageError, *MissingPlatformError or *DuplicatePlatformError for
// inputs it cannot merge, before pushing anything.
func Merge(ctx context.Context, repo name.Repository, digests []v1.Hash, opts ...Option) (*Result, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if len(digests) == 0 {
		return nil, fmt.Errorf("multiarch: merge %s: no image digests", repo)
	}
	ropts := c.remoteOptions(ctx)
	var children []child
	seen := make(map[v1.Hash]bool, len(digests))
	for _, d := range digests {
		if seen[d] {
			continue
		}
		seen[d] = true
		ch, err := readChild(repo, d, ropts)
		if err != nil {
			return nil, err
		}
		c.log("multiarch: %s is %s", d, ch.platform.String())
		children = append(children, ch)
	}
	raw, err := buildIndex(children, c.annotations)
	if err != nil {
		return nil, err
	}
	res := &Result{Manifest: raw}
	if res.Digest, _, err = v1.SHA256(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("multiarch: digest index: %w", err)
	}
	for _, ch := range sortChildren(children) {
		res.Children = append(res.Children, Child{Digest: ch.desc.Digest, Platform: ch.platform})
	}
	if err := c.push(repo, res, ropts); err != nil {
		return nil, err
	}
	return res, nil
}

func (c *config) remoteOptions(ctx context.Context) []remote.Option {
	return append(append([]remote.Option(nil), c.remote...), remote.WithContext(ctx))
}

// child is an image to put in the index.
type child struct {
	desc     v1.Descriptor // media type, size, digest of its manifest
	platform v1.Platform
	annots   map[string]string // copied from its manifest
}

// readChild fetches digest's manifest and config (no layer) from repo.
func readChild(repo name.Repository, digest v1.Hash, ropts []remote.Option) (child, error) {
	rd, err := remote.Get(repo.Digest(digest.String()), ropts...)
	if err != nil {
		return child{}, fmt.Errorf("multiarch: read %s@%s: %w", repo, digest, err)
	}
	switch {
	case rd.MediaType.IsIndex():
		return child{}, &IndexInputError{Digest: digest}
	case !rd.MediaType.IsImage():
		return child{}, &NotImageError{Digest: digest, MediaType: rd.MediaType}
	}
	m, err := v1.ParseManifest(bytes.NewReader(rd.Manifest))
	if err != nil {
		return child{}, fmt.Errorf("multiarch: parse manifest %s: %w", digest, err)
	}
	img, err := rd.Image()
	if err != nil {
		return child{}, fmt.Errorf("multiarch: image %s: %w", digest, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return child{}, fmt.Errorf("multiarch: config of %s (%s): %w", digest, m.Config.Digest, err)
	}
	p := cf.Platform()
	if p == nil || p.OS == "" || p.Architecture == "" {
		got := ""
		if p != nil {
			got = p.String()
		}
		return child{}, &MissingPlatformError{Digest: digest, Platform: got}
	}
	return child{
		desc:     v1.Descriptor{MediaType: rd.MediaType, Size: rd.Size, Digest: rd.Digest},
		platform: *p,
		annots:   descriptorAnnotations(m.Annotations),
	}, nil
}

// descriptorAnnotations picks the OCI pre-defined keys (except ref.name)
// from a child manifest's annotations.
func descriptorAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if strings.HasPrefix(k, ociAnnotationPrefix) && k != refNameAnnotation {
			if out == nil {
				out = make(map[string]string)
			}
			out[k] = v
		}
	}
	return out
}

// sortChildren orders children by platform string, then digest.
func sortChildren(children []child) []child {
	out := append([]child(nil), children...)
	sort.Slice(out, func(i, j int) bool {
		pi, pj := out[i].platform.String(), out[j].platform.String()
		if pi != pj {
			return pi < pj
		}
		return out[i].desc.Digest.String() < out[j].desc.Digest.String()
	})
	return out
}

// sharedAnnotations are the OCI annotations every child carries with the
// same value (source, description, licenses, … of one commit's builds):
// the index carries them too, since GHCR reads a multi-arch package's
// description from the index.
func sharedAnnotations(children []child) map[string]string {
	if len(children) == 0 {
		return nil
	}
	out := maps.Clone(children[0].annots)
	for _, ch := range children[1:] {
		for k, v := range out {
			if ch.annots[k] != v {
				delete(out, k)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// buildIndex checks children for duplicate platforms and encodes the OCI
// index: children sorted, index annotations those all children share
// overridden by those given. encoding/json writes
// map keys sorted, so the bytes depend only on the inputs.
func buildIndex(children []child, annotations map[string]string) ([]byte, error) {
	sorted := sortChildren(children)
	byKey := make(map[string]v1.Hash, len(sorted))
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	for _, ch := range sorted {
		key := platformKey(ch.platform)
		if prev, dup := byKey[key]; dup {
			return nil, &DuplicatePlatformError{Platform: ch.platform.String(), Digests: [2]v1.Hash{prev, ch.desc.Digest}}
		}
		byKey[key] = ch.desc.Digest
		d := ch.desc
		p := ch.platform
		d.Platform = &p
		d.Annotations = ch.annots
		im.Manifests = append(im.Manifests, d)
	}
	idx := sharedAnnotations(sorted)
	if len(annotations) > 0 {
		if idx == nil {
			idx = map[string]string{}
		}
		maps.Copy(idx, annotations)
	}
	if len(idx) > 0 {
		im.Annotations = idx
	}
	raw, err := json.Marshal(im)
	if err != nil {
		return nil, fmt.Errorf("multiarch: encode index: %w", err)
	}
	return raw, nil
}
