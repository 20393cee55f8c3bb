package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"

	"github.com/org/nix-layer-action/internal/regclient"
)

// writeAttempts bounds whole-operation retries on top of
// go-containerregistry's own per-request (and per-blob-upload) budget: a
// blob upload is three requests retried together only a few times, which
// 10% faulty requests exhaust about once in 700 uploads. Another attempt
// is cheap and safe: a blob already uploaded is found by HEAD, and the
// manifest is still written only after every blob is present.
const writeAttempts = 3

// LayerWriter is implemented by publishers that can take a layer's blob
// before the image is assembled, so uploads overlap the building of other
// layers.
type LayerWriter interface {
	// WriteLayer writes l's blob (or finds or mounts it) now; it is safe
	// to call concurrently and more than once for the same layer.
	WriteLayer(ctx context.Context, l v1.Layer) error
}

// Registry pushes images to a reference and points extra tags (in the same
// repository) at them, or pushes them by digest alone, moving no tag.
type Registry struct {
	client   *regclient.Client
	ref      name.Reference
	byDigest bool // push to ref's repository by digest; ref's tag is not moved
	tags     []name.Tag
	start    int64 // client upload count when the publisher was made

	mu      sync.Mutex
	current *v1.Hash         // what ref holds now, when known
	absent  bool             // ref is known to hold nothing
	known   map[v1.Hash]bool // blobs the registry surely has (listed by ref's current manifest)
	written map[v1.Hash]bool
}

var (
	_ LayerWriter = (*Registry)(nil)
	_ Target      = (*Registry)(nil)
)

// Target is implemented by publishers that replace a reference whose
// current image the caller has read.
type Target interface {
	// Current says what the reference holds now: its digest and manifest.
	Current(digest v1.Hash, m *v1.Manifest)
	// Absent says the reference holds nothing yet (the caller was told
	// "not found"), so the publisher need not ask.
	Absent()
	// Listed reports whether the reference's current manifest lists blob
	// h: the registry keeps it as long as the tag does.
	Listed(h v1.Hash) bool
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
	r := &Registry{client: client, ref: ref, start: client.Uploaded(), known: map[v1.Hash]bool{}, written: map[v1.Hash]bool{}}
	for _, t := range tags {
		tr, err := name.NewTag(ref.Context().String()+":"+t, name.StrictValidation)
		if err != nil {
			return nil, &TagError{Tag: t, Err: err}
		}
		r.tags = append(r.tags, tr)
	}
	return r, nil
}

// NewRegistryByDigest returns a publisher pushing to ref's repository by
// digest only: no tag moves (ref's own tag is only where the caller reads
// the previous image from), so an image can be tested, or merged with the
// other platforms' into an index, before anything points at it.
func NewRegistryByDigest(client *regclient.Client, ref name.Reference) *Registry {
	return &Registry{client: client, ref: ref, byDigest: true, start: client.Uploaded(), known: map[v1.Hash]bool{}, written: map[v1.Hash]bool{}}
}

// Destination is "registry REF", or "registry REPO (by digest)".
func (r *Registry) Destination() string {
	if r.byDigest {
		return string(KindRegistry) + " " + r.ref.Context().String() + " (by digest)"
	}
	return string(KindRegistry) + " " + r.ref.String()
}

// target is the reference the image with digest is written to.
func (r *Registry) target(digest v1.Hash) name.Reference {
	if r.byDigest {
		return r.ref.Context().Digest(digest.String())
	}
	return r.ref
}

// Current tells the publisher what the reference holds now (read by the
// caller as the previous image): its digest, and the blobs its manifest
// lists, which the registry keeps as long as the tag does — those are not
// checked or uploaded again.
func (r *Registry) Current(digest v1.Hash, m *v1.Manifest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.byDigest { // by digest, what the tag holds is not replaced
		r.current = &digest
	}
	if m == nil {
		return
	}
	r.known[m.Config.Digest] = true
	for _, d := range m.Layers {
		r.known[d.Digest] = true
	}
}

// Absent tells the publisher the reference holds nothing yet.
func (r *Registry) Absent() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.byDigest {
		r.absent = true
	}
}

// Listed reports whether the reference's current manifest lists blob h.
func (r *Registry) Listed(h v1.Hash) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.known[h]
}

// WriteLayer uploads l's blob now, unless the reference's current
// manifest lists it or this publisher wrote it already: go-containerregistry
// checks it with HEAD, mounts a layer of another repository, and uploads
// the rest with retries. A layer whose digest is not known yet (a
// streamed layer: stream.ErrNotComputed) is uploaded in chunks with the
// digest given at the end; see writeStreamed.
func (r *Registry) WriteLayer(ctx context.Context, l v1.Layer) error {
	d, err := l.Digest()
	if errors.Is(err, stream.ErrNotComputed) {
		return r.writeStreamed(ctx, l)
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	skip := r.known[d] || r.written[d]
	r.mu.Unlock()
	if skip {
		return nil
	}
	err = regclient.Retry(ctx, writeAttempts, r.client.Backoff().Duration, func() error {
		return r.client.Pusher().Upload(ctx, r.ref.Context(), l)
	})
	if err != nil {
		return r.client.Err(fmt.Errorf("push %s: blob %s: %w", r.ref, d, err))
	}
	r.markWritten(d)
	return nil
}

// Attempter is a layer whose bytes are produced afresh on each read and
// whose digest is known only once they were (layer.Streamed): each upload
// attempt reads it under its own identity, since go-containerregistry
// remembers a streamed upload's outcome per layer value.
type Attempter interface {
	Attempt() v1.Layer
}

// writeStreamed uploads a layer whose digest is known only once its
// bytes were read: POST, the bytes in one chunked PATCH, then PUT with the
// digest (the OCI distribution spec's chunked upload). A failed attempt
// reads the bytes afresh; once an attempt read them all, the digest is
// known and a later attempt first asks whether the blob is there.
func (r *Registry) writeStreamed(ctx context.Context, l v1.Layer) error {
	err := regclient.Retry(ctx, writeAttempts, r.client.Backoff().Duration, func() error {
		a := l
		if s, ok := l.(Attempter); ok {
			a = s.Attempt()
		}
		return r.client.Pusher().Upload(ctx, r.ref.Context(), a)
	})
	if err != nil {
		return r.client.Err(fmt.Errorf("push %s: streamed blob: %w", r.ref, err))
	}
	d, err := l.Digest()
	if err != nil {
		return fmt.Errorf("push %s: streamed blob: %w", r.ref, err)
	}
	r.markWritten(d)
	return nil
}

func (r *Registry) markWritten(d v1.Hash) {
	r.mu.Lock()
	r.written[d] = true
	r.mu.Unlock()
}

// Publish writes every blob of img not written yet, then the manifest
// (only after every blob is present, and not at all when the reference
// already holds this exact image), then every extra tag, and checks the
// reference afterwards.
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
	ref := r.target(digest)
	changed, err := r.changed(ctx, ref, digest)
	if err != nil {
		return nil, err
	}
	if err := r.writeBlobs(ctx, img); err != nil {
		return nil, err
	}
	if changed {
		if err := r.putManifest(ctx, ref, img); err != nil {
			return nil, err
		}
	}
	if err := r.tag(ctx, img, digest); err != nil {
		return nil, err
	}
	superseded, err := r.supersededBy(ctx, ref, digest)
	if err != nil {
		return nil, err
	}
	status, err := r.statuses(img)
	if err != nil {
		return nil, err
	}
	return &Result{Digest: digest, BytesPushed: r.client.Uploaded() - r.start, Status: status, Changed: changed, SupersededBy: superseded}, nil
}

// changed reports whether ref holds something other than digest (asking
// the registry when the caller did not say).
func (r *Registry) changed(ctx context.Context, ref name.Reference, digest v1.Hash) (bool, error) {
	r.mu.Lock()
	cur, absent := r.current, r.absent
	r.mu.Unlock()
	switch {
	case cur != nil:
		return *cur != digest, nil
	case absent:
		return true, nil
	}
	prev, err := remote.Head(ref, r.client.Remote(ctx)...)
	switch {
	case err == nil:
		return prev.Digest != digest, nil
	case regclient.IsNotFound(err) || regclient.IsDenied(err):
		return true, nil
	}
	return false, fmt.Errorf("check current manifest: %w", err)
}

// writeBlobs makes sure every layer and the config are in the repository.
func (r *Registry) writeBlobs(ctx context.Context, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return err
	}
	for _, l := range append(layers, cfg) {
		if err := r.WriteLayer(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// putManifest writes the manifest. A registry that answers "blob unknown"
// for a blob it has (GHCR does, for a while after an upload) gets another
// attempt; one that really lacks a blob the previous manifest listed (lost
// or deleted) is named.
func (r *Registry) putManifest(ctx context.Context, ref name.Reference, img v1.Image) error {
	err := regclient.Retry(ctx, writeAttempts, r.client.Backoff().Duration, func() error {
		return r.client.Pusher().Put(ctx, ref, img)
	})
	if err == nil || !regclient.IsBlobUnknown(err) {
		return err
	}
	return r.missingKnown(ctx, img, err)
}

// MissingBlobsError reports blobs the current manifest at the reference
// listed (so they were not checked or uploaded) that the registry no
// longer has — deleted or lost. The caller can rebuild those layers and
// publish again.
type MissingBlobsError struct {
	Ref     name.Reference
	Digests []v1.Hash
	Err     error
}

func (e *MissingBlobsError) Error() string {
	return fmt.Sprintf("the registry no longer has %d blob(s) the manifest at %s listed (deleted or lost), first %s: %v", len(e.Digests), e.Ref, e.Digests[0], e.Err)
}

func (e *MissingBlobsError) Unwrap() error { return e.Err }

// missingKnown checks the blobs taken on trust from the previous manifest
// after the registry refused the manifest for an unknown blob, and forgets
// them: the next attempt checks and uploads them like any other.
func (r *Registry) missingKnown(ctx context.Context, img v1.Image, cause error) error {
	m, err := img.Manifest()
	if err != nil {
		return cause
	}
	var missing []v1.Hash
	for _, d := range append(m.Layers, m.Config) {
		if !r.Listed(d.Digest) {
			continue
		}
		if _, ok, herr := r.client.BlobSize(ctx, r.ref.Context(), d.Digest); herr == nil && !ok {
			missing = append(missing, d.Digest)
		}
	}
	if len(missing) == 0 {
		return cause
	}
	r.mu.Lock()
	r.known = map[v1.Hash]bool{}
	r.mu.Unlock()
	return &MissingBlobsError{Ref: r.ref, Digests: missing, Err: cause}
}

// tag points every extra tag at img, unless it already holds it.
func (r *Registry) tag(ctx context.Context, img v1.Image, digest v1.Hash) error {
	opts := r.client.Remote(ctx)
	for _, tr := range r.tags {
		if d, err := remote.Head(tr, opts...); err == nil && d.Digest == digest {
			continue
		}
		if err := remote.Tag(tr, img, opts...); err != nil {
			return fmt.Errorf("tag %s: %w", tr.TagStr(), err)
		}
	}
	return nil
}

// supersededBy checks the reference after the push: another run that
// pushed to it in the meantime wins, and the result says so ("" when the
// reference holds digest). A reference by digest cannot be superseded.
func (r *Registry) supersededBy(ctx context.Context, ref name.Reference, digest v1.Hash) (string, error) {
	if _, byDigest := ref.(name.Digest); byDigest {
		return "", nil
	}
	d, err := r.headAfterPush(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("check %s after the push: %w", ref, err)
	}
	if d.Digest != digest {
		return d.Digest.String(), nil
	}
	return "", nil
}

// headAfterPush reads what ref holds right after this run wrote it, with
// the same whole-operation retries as the writes (on top of each request's
// own): a registry may answer "not found" (or "blob unknown") for a moment
// after the manifest PUT — GHCR and registries on eventually consistent
// storage do — and the push is not to fail on its last, read-only request
// when a write would have been retried.
func (r *Registry) headAfterPush(ctx context.Context, ref name.Reference) (*v1.Descriptor, error) {
	for attempt := 1; ; attempt++ {
		d, err := remote.Head(ref, r.client.Remote(ctx)...)
		if err == nil || attempt >= writeAttempts || !regclient.Transient(err) && !regclient.IsNotFound(err) {
			return d, err
		}
		var se *regclient.StallError
		if errors.As(err, &se) {
			return d, err // the stalled request used its budget already
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * r.client.Backoff().Duration):
		}
	}
}

// statuses says, for every blob of img, what this run did with it.
func (r *Registry) statuses(img v1.Image) (map[v1.Hash]regclient.BlobStatus, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	status := make(map[v1.Hash]regclient.BlobStatus, len(m.Layers)+1)
	for _, d := range append(m.Layers, m.Config) {
		// Every blob is there now: one this run neither uploaded nor
		// mounted was already there.
		status[d.Digest] = regclient.BlobExists
		if s, ok := r.client.BlobStatus(d.Digest); ok {
			status[d.Digest] = s
		}
	}
	return status, nil
}
