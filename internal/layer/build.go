package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/pgzip"
)

// Build writes the layer described by spec, with store contents from src,
// in one pass: tar → sha256 (diffID) → pgzip or zstd (spec.Format) →
// sha256 (digest) → temp file in opts.TempDir, each store path's bytes
// also hashed as its NAR and checked against its NarHash
// (*TamperedPathError). Nothing is held in memory beyond bounded buffers. Everything that can be checked without reading store
// contents is checked before the temp file is created; on any error
// (including cancellation of ctx) the temp file is removed.
func Build(ctx context.Context, spec Spec, src Source, opts Options) (*Built, error) {
	b, err := buildLayer(ctx, spec, src, opts)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", spec.Name, err)
	}
	return b, nil
}

func buildLayer(ctx context.Context, spec Spec, src Source, opts Options) (*Built, error) {
	paths, err := spec.validate()
	if err != nil {
		return nil, err
	}
	root, err := tree(spec, paths)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := opts.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "nix-layer-*"+spec.format().ext())
	if err != nil {
		return nil, err
	}
	b, err := write(ctx, f, root, spec, src, opts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	b.name, b.path = spec.Name, f.Name()
	return b, nil
}

// blockCount returns the number of pgzip blocks in flight. It does not
// affect the output (block boundaries depend only on the block size).
func (o Options) blockCount() int {
	if o.blocks > 0 {
		return o.blocks
	}
	return max(2, min(runtime.GOMAXPROCS(0), maxBlocks))
}

// ext is the temp file's extension.
func (f Format) ext() string {
	if f.IsZstd() {
		return ".tar.zst"
	}
	return ".tar.gz"
}

// compressor returns the writer compressing to w in format f. Its output
// depends only on the bytes written and f: pgzip's and zstd's block
// boundaries depend only on the block size (blocks is how many are
// compressed at once).
func (f Format) compressor(w io.Writer, blocks int, pool *Writers) (io.WriteCloser, error) {
	switch f.Compression {
	case Zstd:
		return newBlockWriter(w, f.Level, f.BlockSize, blocks)
	case ZstdChunked:
		return newChunkedWriter(w, f.Level, blocks)
	default:
		zw, err := pool.get(w, f.Level)
		if err != nil {
			return nil, err
		}
		// MTIME 0 = "no time stamp", as compress/gzip writes by default.
		zw.ModTime = time.Unix(0, 0)
		if err := zw.SetConcurrency(f.BlockSize, blocks); err != nil {
			return nil, err
		}
		return pooledGzip{Writer: zw, pool: pool, level: f.Level}, nil
	}
}

// Writers keeps closed pgzip writers for the next layer: a writer's block
// buffers (blocks × about 2 × block size) and deflate state are then
// allocated once per concurrent build instead of once per layer, which
// bounds the heap by the number of layers built at once, not by the number
// of layers. A reset writer starts from exactly the state of a new one
// (header, checksum, counters), so the bytes are the same. One Writers
// serves the builds of one run (Options.Writers); it is safe for
// concurrent use. The zero value is ready to use; a nil *Writers makes a
// new writer for every layer.
type Writers struct {
	mu   sync.Mutex
	free map[int][]*pgzip.Writer // by level
}

// maxIdleWriters bounds the writers kept idle per level.
const maxIdleWriters = 4

func (p *Writers) get(w io.Writer, level int) (*pgzip.Writer, error) {
	if p != nil {
		p.mu.Lock()
		if ws := p.free[level]; len(ws) > 0 {
			zw := ws[len(ws)-1]
			p.free[level] = ws[:len(ws)-1]
			p.mu.Unlock()
			zw.Reset(w)
			return zw, nil
		}
		p.mu.Unlock()
	}
	return pgzip.NewWriterLevel(w, level)
}

func (p *Writers) put(zw *pgzip.Writer, level int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = map[int][]*pgzip.Writer{}
	}
	if len(p.free[level]) < maxIdleWriters {
		p.free[level] = append(p.free[level], zw)
	}
}

// pooledGzip returns its writer to its pool once closed cleanly.
type pooledGzip struct {
	*pgzip.Writer
	pool  *Writers
	level int
}

func (p pooledGzip) Close() error {
	err := p.Writer.Close()
	if err == nil {
		p.pool.put(p.Writer, p.level)
	}
	return err
}

func write(ctx context.Context, f io.Writer, root *node, spec Spec, src Source, opts Options) (*Built, error) {
	zsum := &hashCounter{w: f, h: sha256.New()}
	zw, err := spec.format().compressor(zsum, opts.blockCount(), opts.Writers)
	if err != nil {
		return nil, err
	}
	usum := &hashCounter{w: zw, h: sha256.New()}
	bw := bufio.NewWriterSize(usum, copyBufferSize)
	tw := tar.NewWriter(bw)
	w := &tarWriter{ctx: ctx, tw: tw, out: struct{ io.Writer }{tw}, buf: make([]byte, copyBufferSize),
		perms: spec.Perms, src: src, hook: opts.testEntry, entry: opts.OnEntry, noVerify: opts.noVerify}
	if m, ok := zw.(entryMarker); ok {
		w.mark, w.flush = m, bw.Flush
	}
	err = w.walk(root)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	// Always close zw: it stops pgzip's goroutines (and frees zstd's
	// encoder).
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	var annotations map[string]string
	if c, ok := zw.(*chunkedWriter); ok {
		annotations = c.annotations
	}
	return &Built{
		annotations: annotations,
		digest:      v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(zsum.h.Sum(nil))},
		diffID:      v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(usum.h.Sum(nil))},
		size:        zsum.n,
		usize:       usum.n,
		format:      spec.format(),
	}, nil
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
