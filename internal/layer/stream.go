package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	gcrstream "github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrNotReproducible is returned when a streamed layer, written again,
// gave other bytes than before.
var ErrNotReproducible = errors.New("the layer's bytes differ from an earlier write of it (the store's bytes are not reproducible)")

// Streamed is a layer with no file: each Compressed call writes its bytes
// afresh, in one pass from the store (as Build does, so the bytes are
// Build's), into the reader it returns. Its Digest, DiffID and Size are
// known once a read reached the end; before that they return
// gcrstream.ErrNotComputed, so go-containerregistry uploads it in chunks and
// gives the digest with the final PUT. A failed upload is retried by
// writing the bytes again.
type Streamed struct {
	name string
	spec Spec
	root *node
	src  Source
	opts Options
	ctx  context.Context

	mu      sync.Mutex
	written *Built // digest and sizes, once a write completed
}

var _ v1.Layer = (*Streamed)(nil)

// Stream checks spec as Build does (everything that can be checked
// without reading store contents) and returns the layer, to be written
// from src when read. ctx bounds every write.
func Stream(ctx context.Context, spec Spec, src Source, opts Options) (*Streamed, error) {
	paths, err := spec.validate()
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", spec.Name, err)
	}
	root, err := tree(spec, paths)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", spec.Name, err)
	}
	return &Streamed{name: spec.Name, spec: spec, root: root, src: src, opts: opts, ctx: ctx}, nil
}

// Name is the Spec.Name the layer is written from.
func (s *Streamed) Name() string { return s.name }

// Compressed starts writing the layer into the returned reader. Closing
// the reader early stops the write.
func (s *Streamed) Compressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		b, err := write(s.ctx, pw, s.root, s.spec, s.src, s.opts)
		if err == nil {
			err = s.record(b)
		}
		if err != nil {
			err = fmt.Errorf("layer %q: %w", s.name, err)
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// record keeps what a completed write gave; a later write must give the
// same.
func (s *Streamed) record(b *Built) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil && (s.written.digest != b.digest || s.written.size != b.size) {
		return fmt.Errorf("%w: %s, then %s", ErrNotReproducible, s.written.digest, b.digest)
	}
	s.written = b
	return nil
}

func (s *Streamed) done() (*Built, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		return nil, gcrstream.ErrNotComputed
	}
	return s.written, nil
}

// Digest is the sha256 of the compressed bytes, once written.
func (s *Streamed) Digest() (v1.Hash, error) {
	b, err := s.done()
	if err != nil {
		return v1.Hash{}, err
	}
	return b.digest, nil
}

// DiffID is the sha256 of the tar stream, once written.
func (s *Streamed) DiffID() (v1.Hash, error) {
	b, err := s.done()
	if err != nil {
		return v1.Hash{}, err
	}
	return b.diffID, nil
}

// Size is the compressed size, once written.
func (s *Streamed) Size() (int64, error) {
	b, err := s.done()
	if err != nil {
		return 0, err
	}
	return b.size, nil
}

// UncompressedSize is the tar stream's size, once written (else 0).
func (s *Streamed) UncompressedSize() int64 {
	b, err := s.done()
	if err != nil {
		return 0
	}
	return b.usize
}

// Annotations are the annotations the layer's descriptor must carry
// (zstd:chunked's), once written (else nil); see Built.Annotations.
func (s *Streamed) Annotations() map[string]string {
	b, err := s.done()
	if err != nil {
		return nil
	}
	return b.Annotations()
}

// MediaType is the OCI layer media type of the spec's format.
func (s *Streamed) MediaType() (types.MediaType, error) { return s.spec.format().MediaType(), nil }

// Uncompressed is not offered: nothing reads a streamed layer's tar.
func (s *Streamed) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("layer %q: a streamed layer has no uncompressed reader", s.name)
}

// Attempt is the same layer under another identity: go-containerregistry
// remembers the outcome of a streamed upload per layer value, so each
// attempt of an upload needs its own. Everything an attempt learns (the
// digest) is the layer's.
func (s *Streamed) Attempt() v1.Layer { return &attempt{s} }

type attempt struct{ *Streamed }
