package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/pgzip"
)

// entryTime is the fixed modification time of every tar entry.
var entryTime = time.Unix(1, 0)

const copyBufferSize = 256 << 10

// Build writes the layer described by spec, in one pass:
// tar → sha256 (diffID) → pgzip(Level, BlockSize) → sha256 (digest) → temp
// file in opts.TempDir. Nothing is held in memory beyond bounded buffers.
// On any error (including cancellation of ctx) the temp file is removed.
func Build(ctx context.Context, spec Spec, opts Options) (*Built, error) {
	entries, err := collect(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", spec.Name, err)
	}
	dir := opts.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "nix-layer-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", spec.Name, err)
	}
	b, err := write(ctx, f, entries, spec.StoreRoot, opts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("layer %q: %w", spec.Name, err)
	}
	b.name = spec.Name
	b.path = f.Name()
	return b, nil
}

// blocks returns the number of pgzip blocks in flight. It does not affect
// the output (block boundaries depend only on BlockSize).
func (o Options) blockCount() int {
	if o.blocks > 0 {
		return o.blocks
	}
	return max(2, min(runtime.GOMAXPROCS(0), maxBlocks))
}

func write(ctx context.Context, f *os.File, entries []entry, storeRoot string, opts Options) (*Built, error) {
	zsum := &hashCounter{w: f, h: sha256.New()}
	zw, err := pgzip.NewWriterLevel(zsum, Level)
	if err != nil {
		return nil, err
	}
	// MTIME 0 = "no time stamp", as compress/gzip writes by default.
	zw.ModTime = time.Unix(0, 0)
	if err := zw.SetConcurrency(BlockSize, opts.blockCount()); err != nil {
		return nil, err
	}
	usum := &hashCounter{w: zw, h: sha256.New()}
	bw := bufio.NewWriterSize(usum, copyBufferSize)
	tw := tar.NewWriter(bw)

	err = writeEntries(ctx, tw, entries, cleanStoreRoot(storeRoot), opts.testEntry)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	// Always close zw: it stops pgzip's goroutines.
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return &Built{
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(zsum.h.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(usum.h.Sum(nil))},
		size:   zsum.n,
		usize:  usum.n,
	}, nil
}

func writeEntries(ctx context.Context, tw *tar.Writer, entries []entry, root string, hook func(string)) error {
	buf := make([]byte, copyBufferSize)
	w := struct{ io.Writer }{tw} // hide tar.Writer.ReadFrom so buf is used
	for i := range entries {
		e := &entries[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		if hook != nil {
			hook(e.name)
		}
		name := e.name[1:]
		if e.typ == tar.TypeDir {
			name += "/"
		}
		hdr := &tar.Header{
			Typeflag: e.typ,
			Name:     name,
			Linkname: e.linkname,
			Size:     e.size,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  entryTime,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		switch e.src {
		case srcData:
			if _, err := tw.Write(e.data); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
		case srcStore:
			if err := copyFile(ctx, w, root+e.name, e.size, buf); err != nil {
				return err
			}
		case srcSource:
			if err := copyFile(ctx, w, e.source, e.size, buf); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
		}
	}
	return nil
}

// copyFile copies exactly size bytes of the regular file at host to w.
func copyFile(ctx context.Context, w io.Writer, host string, size int64, buf []byte) error {
	f, err := os.Open(host)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() || info.Size() != size {
		return fmt.Errorf("%s changed while building the layer (now %s, %d bytes; expected a regular file of %d bytes)", host, info.Mode(), info.Size(), size)
	}
	n, err := io.CopyBuffer(w, &ctxReader{ctx: ctx, r: io.LimitReader(f, size)}, buf)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("copying %s: %w", host, err)
	}
	if n != size {
		return fmt.Errorf("%s shrank while building the layer (read %d of %d bytes)", host, n, size)
	}
	return nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// hashCounter writes to w and hashes and counts what was written.
type hashCounter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashCounter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}
