package publish

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/regclient"
)

// writeAttempts bounds whole-push retries on top of go-containerregistry's
// own per-request (and per-blob-upload) budget: a blob upload is three
// requests retried together only a few times, which 10% faulty requests
// exhaust about once in 700 uploads. Another attempt is cheap and safe:
// blobs already uploaded are found by HEAD, and the manifest is still
// written only after every blob is present.
const writeAttempts = 3

// Registry pushes images to a reference and points extra tags (in the same
// repository) at them.
type Registry struct {
	client *regclient.Client
	ref    name.Reference
	tags   []name.Tag
}

// TagError is an extra tag that is not a valid tag.
type TagError struct {
	Tag string
	Err error
}

func (e *TagError) Error() string { return fmt.Sprintf("tag %q: %v", e.Tag, e.Err) }
func (e *TagError) Unwrap() error { return e.Err }

// NewRegistry returns a publisher pushing to ref with client. Every extra
// tag is validated here, before anything is built.
func NewRegistry(client *regclient.Client, ref name.Reference, tags []string) (*Registry, error) {
	r := &Registry{client: client, ref: ref}
	for _, t := range tags {
		tr, err := name.NewTag(ref.Context().String()+":"+t, name.StrictValidation)
		if err != nil {
			return nil, &TagError{Tag: t, Err: err}
		}
		r.tags = append(r.tags, tr)
	}
	return r, nil
}

// Destination is "registry REF".
func (r *Registry) Destination() string { return string(KindRegistry) + " " + r.ref.String() }

// Publish pushes img: go-containerregistry checks each blob with HEAD,
// mounts remote layers from their source repository, uploads the rest with
// retries, and writes the manifest only after all blobs are present; then
// every extra tag. Blob statuses and byte counts come from the client's
// observation of those requests.
func (r *Registry) Publish(ctx context.Context, img v1.Image) (*Result, error) {
	res, err := r.publish(ctx, img)
	if err != nil {
		return nil, r.client.Err(fmt.Errorf("push %s: %w", r.ref, err))
	}
	return res, nil
}

func (r *Registry) publish(ctx context.Context, img v1.Image) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	want, err := blobDigests(img)
	if err != nil {
		return nil, err
	}
	opts := r.client.Remote(ctx)
	changed := true
	if prev, err := remote.Head(r.ref, opts...); err == nil {
		changed = prev.Digest != digest
	} else if !regclient.IsNotFound(err) && !regclient.IsDenied(err) {
		return nil, fmt.Errorf("check current manifest: %w", err)
	}
	before := r.client.Uploaded()
	err = regclient.Retry(ctx, writeAttempts, r.client.Backoff().Duration, func() error {
		return remote.Write(r.ref, img, opts...)
	})
	if err != nil {
		return nil, err
	}
	for _, tr := range r.tags {
		if err := remote.Tag(tr, img, opts...); err != nil {
			return nil, fmt.Errorf("tag %s: %w", tr.TagStr(), err)
		}
	}
	status := make(map[v1.Hash]regclient.BlobStatus, len(want))
	for _, h := range want {
		// remote.Write succeeded, so a blob it neither uploaded nor
		// mounted was already there (possibly not even HEAD-checked,
		// when the tag already pointed at this exact manifest).
		status[h] = regclient.BlobExists
		if s, ok := r.client.BlobStatus(h); ok {
			status[h] = s
		}
	}
	return &Result{Digest: digest, BytesPushed: r.client.Uploaded() - before, Status: status, Changed: changed}, nil
}

// blobDigests lists the digests of img's layers and config.
func blobDigests(img v1.Image) ([]v1.Hash, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	out := make([]v1.Hash, 0, len(m.Layers)+1)
	for _, d := range m.Layers {
		out = append(out, d.Digest)
	}
	return append(out, m.Config.Digest), nil
}
