package layer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ErrClosed is returned by Compressed and Uncompressed after Close.
var ErrClosed = errors.New("layer: built layer is closed")

// Built is a layer written to a temp file. It implements v1.Layer;
// Compressed reopens the file on each call. Close removes the file.
type Built struct {
	name        string
	path        string
	digest      v1.Hash
	diffID      v1.Hash
	size, usize int64
	format      Format
	annotations map[string]string
	mu          sync.Mutex
	closed      bool
}

var _ v1.Layer = (*Built)(nil)

// Name is the Spec.Name the layer was built from.
func (b *Built) Name() string { return b.name }

// Path is the temp file holding the compressed layer (valid until Close).
func (b *Built) Path() string { return b.path }

// Digest is the sha256 of the compressed bytes.
func (b *Built) Digest() (v1.Hash, error) { return b.digest, nil }

// DiffID is the sha256 of the uncompressed tar stream.
func (b *Built) DiffID() (v1.Hash, error) { return b.diffID, nil }

// Size is the compressed size in bytes.
func (b *Built) Size() (int64, error) { return b.size, nil }

// UncompressedSize is the size of the tar stream in bytes.
func (b *Built) UncompressedSize() int64 { return b.usize }

// Format is the format the layer was written in.
func (b *Built) Format() Format { return b.format }

// MediaType is the OCI layer media type of the layer's format (tar+gzip or
// tar+zstd).
func (b *Built) MediaType() (types.MediaType, error) { return b.format.MediaType(), nil }

// Annotations are the annotations the layer's descriptor must carry
// (zstd:chunked: where its table of contents is, and its digest); nil for
// other formats. The map is a copy.
func (b *Built) Annotations() map[string]string { return maps.Clone(b.annotations) }

// Compressed opens the compressed layer file afresh.
func (b *Built) Compressed() (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("layer %q: %w", b.name, ErrClosed)
	}
	f, err := os.Open(b.path)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", b.name, err)
	}
	return f, nil
}

// Uncompressed returns the tar stream, decompressing the layer file.
func (b *Built) Uncompressed() (io.ReadCloser, error) {
	rc, err := b.Compressed()
	if err != nil {
		return nil, err
	}
	var zr io.ReadCloser
	if b.format.IsZstd() {
		var d *zstd.Decoder
		if d, err = zstd.NewReader(rc, zstd.WithDecoderConcurrency(1)); err == nil {
			zr = d.IOReadCloser()
		}
	} else {
		zr, err = gzip.NewReader(rc)
	}
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("layer %q: %w", b.name, err)
	}
	return &decompressReadCloser{ReadCloser: zr, file: rc}, nil
}

// Close removes the temp file. It is safe to call more than once.
func (b *Built) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("layer %q: %w", b.name, err)
	}
	return nil
}

type decompressReadCloser struct {
	io.ReadCloser
	file io.Closer
}

func (g *decompressReadCloser) Close() error {
	err := g.ReadCloser.Close()
	if ferr := g.file.Close(); err == nil {
		err = ferr
	}
	return err
}
