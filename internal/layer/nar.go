package layer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
)

// narBufferSize is the read buffer between the NAR stream and the parser:
// the many small tokens of a NAR are served from it, and large file bodies
// bypass it.
const narBufferSize = copyBufferSize

// NAROpener opens the decompressed NAR serialisation of a store path, as
// substituter.Client.OpenNAR does. Reads of the stream should return once
// ctx is done (a body of an HTTP request made with ctx does). The stream
// may report at its end, instead of io.EOF, that it was not genuine (a
// hash mismatch); NARSource reads every stream to its end to learn that.
type NAROpener func(ctx context.Context, storePath string) (io.ReadCloser, error)

// NARSource reads store paths from their NAR streams, realising nothing:
// a layer built from it is bit-identical to one built from DirSource over
// the same paths realised on disk. Every stream is read to its end and
// closed; the layer fails if the stream reports an error at its end, is
// truncated, has bytes after the NAR, or is not the canonical NAR of the
// entries it yielded (go-nix's reader skips some malformed input).
// A file body that fn leaves unread is skipped (read and discarded), as
// DirSource lets fn ignore a body; the stream is read to its end all the
// same.
type NARSource struct {
	Open NAROpener
}

// Walk opens the NAR of p and calls fn for each of its entries, in the
// NAR's own order, which is the order the Source contract asks for.
// Errors other than fn's and ctx's name the store path.
func (s NARSource) Walk(ctx context.Context, p string, fn func(*Entry) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := s.Open(ctx, p)
	if err != nil {
		return fmt.Errorf("store path %s: opening NAR: %w", p, err)
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("store path %s: closing NAR: %w", p, cerr)
		}
	}()
	in := &narInput{br: bufio.NewReaderSize(&ctxReader{ctx: ctx, r: rc}, narBufferSize)}
	nr, err := nar.NewReader(in)
	if err != nil {
		return fmt.Errorf("store path %s: reading NAR: %w", p, err)
	}
	w := &narWalk{p: p, in: in, nr: nr, buf: make([]byte, 32<<10)}
	defer w.stop()
	return w.run(ctx, fn)
}

// narInput is the stream as go-nix sees it: it counts the bytes consumed,
// remembers whether the stream ended, and once stopped fails every Read so
// go-nix's parser goroutine cannot touch the stream again.
type narInput struct {
	br       *bufio.Reader
	consumed int64
	ended    bool  // a Read returned io.EOF
	stopped  error // set before the parser goroutine is released
}

func (in *narInput) Read(b []byte) (int, error) {
	if in.stopped != nil {
		return 0, in.stopped
	}
	n, err := in.br.Read(b)
	in.consumed += int64(n)
	if errors.Is(err, io.EOF) {
		in.ended = true
	}
	return n, err
}

var errWalkStopped = errors.New("NAR walk stopped")

// narWalk maps the headers of one NAR to entries.
type narWalk struct {
	p       string
	in      *narInput
	nr      *nar.Reader
	buf     []byte // for reading the bytes after the NAR
	last    string // path of the previous entry
	want    int64  // canonical NAR size of the entries so far
	resumed bool   // Next was called
	nextErr error  // Next returned an error (or io.EOF): its goroutine is done
}

func (w *narWalk) run(ctx context.Context, fn func(*Entry) error) error {
	w.want = narStringSize("nix-archive-1")
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.resumed = true
		h, err := w.nr.Next()
		if err != nil {
			w.nextErr = err
			switch {
			case w.in.ended:
				// go-nix may take a stream that ends between two tokens for
				// the end of the NAR.
				return w.errorf("the NAR is truncated: %w", io.ErrUnexpectedEOF)
			case errors.Is(err, io.EOF):
				return w.finish()
			}
			return w.errorf("reading NAR: %w", err)
		}
		e, err := w.entry(h)
		if err != nil {
			return err
		}
		if err := w.yield(e, fn); err != nil {
			return err
		}
	}
}

func (w *narWalk) errorf(format string, args ...any) error {
	return fmt.Errorf("store path %s: "+format, append([]any{w.p}, args...)...)
}

// entry checks a header and maps it to an Entry (without Body).
func (w *narWalk) entry(h *nar.Header) (*Entry, error) {
	name := w.p
	if h.Path != "/" {
		name = w.p + h.Path
	}
	if w.last != "" && !narLess(w.last, name) {
		return nil, w.errorf("NAR entry %q does not follow %q (unsorted, duplicate, or named \"\", \".\" or \"..\")", name, w.last)
	}
	w.last = name
	w.want += narNodeSize(h)
	e := &Entry{Path: name}
	switch h.Type {
	case nar.TypeRegular:
		e.Mode, e.Size = 0o444, h.Size
		if h.Executable {
			e.Mode = 0o555
		}
	case nar.TypeDirectory:
		e.Mode = fs.ModeDir | 0o555
	case nar.TypeSymlink:
		if h.LinkTarget == "" || strings.IndexByte(h.LinkTarget, 0) >= 0 {
			return nil, w.errorf("NAR symlink %s has target %q, which no file system can hold", name, h.LinkTarget)
		}
		e.Mode, e.Linkname = fs.ModeSymlink|0o777, h.LinkTarget
	default:
		return nil, w.errorf("NAR entry %s has unknown type %q", name, h.Type)
	}
	return e, nil
}

// yield calls fn with e, handing it the body of a regular file, which
// expires when fn returns. What fn leaves unread of a body, go-nix's Next
// skips, reading it from the stream.
func (w *narWalk) yield(e *Entry, fn func(*Entry) error) error {
	if !e.Mode.IsRegular() {
		return fn(e)
	}
	body := &narBody{w: w, left: e.Size, name: e.Path}
	e.Body = body
	defer func() { body.expired = true }()
	return fn(e)
}

// discard reads r to its end with w's buffer.
func (w *narWalk) discard(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{r}, w.buf)
}

// finish checks the end of the NAR and reads the stream to its end, so
// that an error the stream reports there (a hash mismatch) fails the walk.
func (w *narWalk) finish() error {
	extra, err := w.discard(w.in.br)
	switch {
	case err != nil:
		return w.errorf("reading to the end of the NAR: %w", err)
	case w.in.consumed != w.want:
		return w.errorf("the NAR is not canonical: %d bytes parsed, its entries take %d", w.in.consumed, w.want)
	case extra > 0:
		return w.errorf("%d bytes after the end of the NAR", extra)
	}
	return nil
}

// stop releases go-nix's parser goroutine without letting it read the
// stream again: resumed after the stream is fenced off, the parser fails
// at its next read and exits. (A NAR that go-nix itself finds unsorted
// leaves its goroutine blocked: go-nix offers no way to release it, so at
// least the read buffer is let go.)
func (w *narWalk) stop() {
	w.in.stopped, w.in.br = errWalkStopped, nil
	if w.resumed && w.nextErr == nil {
		w.nr.Next()
	}
	w.nr.Close()
}

// narBody reads the contents of the current NAR file: exactly its size,
// and nothing once fn has returned (go-nix would serve the next file's).
type narBody struct {
	w       *narWalk
	left    int64
	name    string
	expired bool
}

func (b *narBody) Read(p []byte) (int, error) {
	switch {
	case b.expired:
		return 0, fmt.Errorf("%s: body read after its entry's fn returned", b.name)
	case b.left <= 0:
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.w.nr.Read(p)
	b.left -= int64(n)
	switch {
	case err == nil || errors.Is(err, io.EOF) && b.left == 0:
		return n, nil
	case errors.Is(err, io.EOF):
		return n, b.w.errorf("the NAR ends inside %s (%d bytes missing): %w", b.name, b.left, io.ErrUnexpectedEOF)
	}
	return n, b.w.errorf("reading %s from the NAR: %w", b.name, err)
}

// narStringSize is the size of s as a NAR string: length, bytes, padding
// to 8 bytes.
func narStringSize(s string) int64 { return narPaddedSize(int64(len(s))) }

func narPaddedSize(n int64) int64 { return 8 + (n+7)/8*8 }

// narNodeSize is the size the canonical NAR gives the node of h, without
// its children: "(" "type" T … ")", plus, below the root, the directory
// entry around it: "entry" "(" "name" N "node" … ")".
func narNodeSize(h *nar.Header) int64 {
	n := narStringSize("(") + narStringSize("type") + narStringSize(string(h.Type)) + narStringSize(")")
	switch h.Type {
	case nar.TypeRegular:
		if h.Executable {
			n += narStringSize("executable") + narStringSize("")
		}
		n += narStringSize("contents") + narPaddedSize(h.Size)
	case nar.TypeSymlink:
		n += narStringSize("target") + narStringSize(h.LinkTarget)
	}
	if h.Path != "/" {
		n += narStringSize("entry") + narStringSize("(") + narStringSize("name") +
			narStringSize(path.Base(h.Path)) + narStringSize("node") + narStringSize(")")
	}
	return n
}
