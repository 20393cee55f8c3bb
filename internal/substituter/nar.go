package substituter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/org/nix-layer-action/internal/secrets"
)

// OpenNAR returns the decompressed NAR of storePath from the cache whose
// narinfo PathInfos accepted (the narinfo is fetched now if it was not
// yet). The stream is hashed as it is read: when its content does not
// match the narinfo's NarHash and NarSize, the Read that reaches the end
// (or passes NarSize) returns a *HashMismatchError instead of io.EOF, and
// so does every Read after it. Transport and decompression failures come
// as a *NARError (or a *TimeoutError for a stalled cache).
//
// Memory use is bounded by the decompressor's window, not the NAR size.
// Close may be called at any time; it releases the connection (or the xz
// process) even after a partial read. A path no cache has is a
// *MissingError.
func (c *Client) OpenNAR(ctx context.Context, storePath string) (io.ReadCloser, error) {
	r, err := c.lookup(ctx, storePath)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, &MissingError{Paths: []string{storePath}}
	}
	ch, ni := r.cache, r.info.ni
	loc, err := ch.resolve(ni.URL)
	if err != nil {
		return nil, &NarinfoError{Path: storePath, Cache: ch.display, Err: err}
	}
	if !supportedCompression(ni.Compression) {
		return nil, &UnsupportedCompressionError{Path: storePath, Cache: ch.display, Compression: ni.Compression}
	}
	raw, err := c.openRaw(ctx, ch, loc)
	if err != nil {
		return nil, err
	}
	ch.stats.narRequests.Add(1)
	wire := &countingReader{r: raw, n: &ch.stats.narWireBytes}
	dec, err := decompressor(ni.Compression, wire, c.o.xzCommand)
	if err != nil {
		raw.Close()
		return nil, &NARError{Path: storePath, Cache: ch.display, URL: redactURLText(loc), Err: err}
	}
	return &narReader{
		dec: dec, raw: raw, h: sha256.New(), want: r.info.digest, wantSize: int64(ni.NarSize),
		counter: &ch.stats.narBytes, path: storePath, cache: ch.display, url: redactURLText(loc),
		redact: c.redact,
	}, nil
}

// openRaw opens the (compressed) NAR file for reading: an HTTP body after
// retries of transient failures (a body cut short is resumed, see
// resumingBody), or a local file.
func (c *Client) openRaw(ctx context.Context, ch *cache, loc string) (io.ReadCloser, error) {
	if ch.isFile() {
		f, err := os.Open(loc)
		if err != nil {
			return nil, &RequestError{Cache: ch.display, Method: "READ", URL: loc, Attempts: 1, Err: err}
		}
		return f, nil
	}
	resp, attempts, err := c.get(ctx, ch, loc, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, c.requestError(ch, loc, resp.StatusCode, attempts, nil)
	}
	if identity(resp.Header.Get("Content-Encoding")) {
		return c.resuming(ctx, ch, loc, resp), nil
	}
	body, err := decodeContentEncoding(resp.Header.Get("Content-Encoding"), resp.Body, c.o.xzCommand)
	if err != nil {
		resp.Body.Close()
		return nil, c.requestError(ch, loc, 0, attempts, err)
	}
	return body, nil
}

// narReader decompresses, counts and hashes a NAR stream and turns a
// mismatch at the end into a *HashMismatchError.
type narReader struct {
	dec      io.ReadCloser
	raw      io.ReadCloser
	h        hash.Hash
	want     []byte
	wantSize int64
	got      int64
	counter  *atomic.Int64
	path     string
	cache    string
	url      string
	redact   *secrets.Set
	err      error // sticky final error (io.EOF when verified)
	closed   bool
}

// Read returns decompressed NAR bytes; at the end io.EOF only if the
// content matched the narinfo.
func (r *narReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.closed {
		return 0, errors.New("substituter: read after Close")
	}
	n, err := r.dec.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.got += int64(n)
		r.counter.Add(int64(n))
		if r.got > r.wantSize {
			r.err = r.mismatch()
			return n, r.err
		}
	}
	switch {
	case err == io.EOF:
		r.err = io.EOF
		if r.got != r.wantSize || !bytes.Equal(r.h.Sum(nil), r.want) {
			r.err = r.mismatch()
		}
		return n, r.err
	case err != nil:
		var te *TimeoutError
		if errors.As(err, &te) {
			r.err = te
		} else {
			r.err = &NARError{Path: r.path, Cache: r.cache, URL: r.url, Err: r.redact.Error(err)}
		}
		return n, r.err
	}
	return n, nil
}

func (r *narReader) mismatch() error {
	return &HashMismatchError{
		Path: r.path, Cache: r.cache,
		Want: "sha256:" + nixbase32.EncodeToString(r.want), Got: "sha256:" + nixbase32.EncodeToString(r.h.Sum(nil)),
		WantSize: r.wantSize, GotSize: r.got,
	}
}

// Close releases the decompressor and the connection or file.
func (r *narReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	rerr := r.raw.Close() // first: unblocks an xz process's feeder stuck on a stalled body
	derr := r.dec.Close()
	if derr != nil && !isCloseNoise(derr) {
		return fmt.Errorf("substituter: closing NAR of %s: %w", r.path, derr)
	}
	return rerr
}

// countingReader adds the bytes read to a counter.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// isCloseNoise reports errors of closing a decompressor early that only
// say the stream was not read to its end.
func isCloseNoise(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, errClosedEarly)
}
