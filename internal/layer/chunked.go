package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"
	"unicode/utf8"
)

// zstd:chunked, as containers/storage 1.43 (podman 4.3, CRI-O 1.26) reads
// it (pkg/chunked/internal/compression.go and compressor/compressor.go of
// that version):
//
//   - the layer is a sequence of zstd frames whose concatenation is the
//     tar stream, so any zstd reader reads it as a plain tar+zstd layer;
//   - the contents of every regular file are frames of their own, one per
//     chunk: a file is cut where a rolling checksum (bup's rollsum over 64
//     bytes) has its low ChunkedRollsumBits bits set, so the cuts follow
//     the contents, not the offsets (and at most every chunkedMaxChunk
//     bytes); tar headers and padding are frames in between;
//   - after the last frame: a zstd skippable frame holding the table of
//     contents (JSON, zstd-compressed: every entry with its metadata, the
//     SHA-256 of each file's contents and of each chunk, and the offsets of
//     their frames in the blob), then a skippable frame holding the 40-byte
//     footer (TOC offset, compressed and uncompressed size, type 1, magic
//     "GnUlInUx");
//   - the layer descriptor carries the TOC's digest and position in the
//     annotations ChunkedManifestChecksum and ChunkedManifestPosition.
//
// A puller with partial pulls enabled fetches the TOC, then only the
// frames of files and chunks it holds in no local layer (HTTP range
// requests). Newer containers/storage (1.45+) looks for other annotation
// names ("io.github.containers.zstd-chunked.…") and a tar-split section,
// finds neither, and pulls such a layer whole, as plain zstd.
//
// The frames are compressed in parallel like Zstd's blocks (frameEncoder),
// so the bytes depend only on the tar stream and the Format.

// Annotations of a zstd:chunked layer's descriptor.
const (
	ChunkedManifestChecksum = "io.containers.zstd-chunked.manifest-checksum"
	ChunkedManifestPosition = "io.containers.zstd-chunked.manifest-position"
)

// ChunkedAnnotationPrefix starts the name of every annotation a
// zstd:chunked layer's descriptor needs.
const ChunkedAnnotationPrefix = "io.containers.zstd-chunked."

// ChunkedRollsumBits: a chunk ends where the rolling checksum's low bits
// are all set (chunks of 64 KiB on average), as containers/storage cuts.
const ChunkedRollsumBits = 16

// chunkedMaxChunk bounds a chunk (and so the memory of one frame) when the
// contents give no cut, e.g. long runs of one byte.
const chunkedMaxChunk = 4 << 20

// chunkedJobTarget is how much input one compression job gathers before
// it is handed to the workers: per-file frames are often tiny.
const chunkedJobTarget = 1 << 20

// chunkedFooter is the footer's size; chunkedMagic ends it.
const chunkedFooter = 40

var (
	chunkedMagic  = []byte("GnUlInUx")
	skippableHead = []byte{0x50, 0x2a, 0x4d, 0x18}
)

// tocEntry is one entry of the table of contents, with the JSON names and
// order containers/storage uses (internal.FileMetadata).
type tocEntry struct {
	Type        string     `json:"type"`
	Name        string     `json:"name"`
	Linkname    string     `json:"linkName,omitempty"`
	Mode        int64      `json:"mode,omitempty"`
	Size        int64      `json:"size,omitempty"`
	UID         int        `json:"uid,omitempty"`
	GID         int        `json:"gid,omitempty"`
	ModTime     *time.Time `json:"modtime,omitempty"`
	Digest      string     `json:"digest,omitempty"`
	Offset      int64      `json:"offset,omitempty"`
	EndOffset   int64      `json:"endOffset,omitempty"`
	ChunkSize   int64      `json:"chunkSize,omitempty"`
	ChunkOffset int64      `json:"chunkOffset,omitempty"`
	ChunkDigest string     `json:"chunkDigest,omitempty"`

	frame, endFrame int // frame indexes, resolved to Offset/EndOffset at the end
}

type toc struct {
	Version int        `json:"version"`
	Entries []tocEntry `json:"entries"`
}

// entryMarker is told where the tar stream's entries and file contents
// begin and end (the tar writer flushes its buffer first, so the marks
// fall between the right bytes).
type entryMarker interface {
	entry(h *tar.Header) error // h's header is next
	content() error            // h's contents are next
	endContent() error         // h's contents are done
}

// chunkedWriter writes a zstd:chunked layer (see above).
type chunkedWriter struct {
	w      io.Writer // after the frames: the TOC and footer
	e      *frameEncoder
	job    *frameJob
	level  int
	frames int // frames cut so far

	entries []tocEntry
	reg     int  // index of the regular file whose contents are being written, or -1
	inBody  bool // between content and endContent
	file    hash.Hash
	chunk   hash.Hash
	chunkN  int64 // bytes in the current chunk
	fileN   int64 // bytes of the file so far
	nChunks int
	roll    rollsum
	err     error

	annotations map[string]string
}

func newChunkedWriter(w io.Writer, level, workers int) (*chunkedWriter, error) {
	e, err := newFrameEncoder(w, level, workers)
	if err != nil {
		return nil, err
	}
	e.record = true
	return &chunkedWriter{w: w, e: e, job: e.job(), level: level, reg: -1, file: sha256.New(), chunk: sha256.New()}, nil
}

// cutFrame ends the current frame (if it has any bytes) and hands the job
// to the workers once it is big enough.
func (c *chunkedWriter) cutFrame() error {
	if c.job.pending() == 0 {
		return nil
	}
	c.job.cut()
	c.frames++
	if len(c.job.src) >= chunkedJobTarget {
		if err := c.e.submit(c.job); err != nil {
			return err
		}
		c.job = c.e.job()
	}
	return nil
}

func (c *chunkedWriter) entry(h *tar.Header) error {
	typ := ""
	switch h.Typeflag {
	case tar.TypeReg:
		typ = "reg"
	case tar.TypeDir:
		typ = "dir"
	case tar.TypeSymlink:
		typ = "symlink"
	default:
		return fmt.Errorf("zstd:chunked: %s: unsupported tar type %q", h.Name, h.Typeflag)
	}
	if !utf8.ValidString(h.Name) || !utf8.ValidString(h.Linkname) {
		return fmt.Errorf("zstd:chunked: %q: a name that is not UTF-8 cannot go into the table of contents (JSON); use zstd or gzip", h.Name+h.Linkname)
	}
	mt := h.ModTime.UTC()
	c.entries = append(c.entries, tocEntry{Type: typ, Name: h.Name, Linkname: h.Linkname, Mode: h.Mode,
		Size: h.Size, UID: h.Uid, GID: h.Gid, ModTime: &mt})
	return nil
}

func (c *chunkedWriter) content() error {
	if err := c.cutFrame(); err != nil {
		return err
	}
	c.reg, c.inBody = len(c.entries)-1, true
	c.file.Reset()
	c.fileN, c.nChunks = 0, 0
	c.roll = newRollsum() // per file; it rolls on across the file's chunks
	c.startChunk()
	return nil
}

func (c *chunkedWriter) startChunk() {
	c.chunk.Reset()
	c.chunkN = 0
}

// endChunk cuts the current chunk's frame and records it: on the file's
// own entry for the first chunk, as a "chunk" entry after it for the
// others.
func (c *chunkedWriter) endChunk() error {
	if c.chunkN == 0 {
		return nil
	}
	frame := c.frames
	if err := c.cutFrame(); err != nil {
		return err
	}
	// The first chunk's digest is the file's so far (Sum leaves the
	// running hash as it is): only later chunks are hashed apart.
	h := c.chunk
	if c.nChunks == 0 {
		h = c.file
	}
	sum := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if c.nChunks == 0 {
		e := &c.entries[c.reg]
		e.frame, e.ChunkSize, e.ChunkDigest = frame, c.chunkN, sum
	} else {
		f := c.entries[c.reg]
		c.entries = append(c.entries, tocEntry{Type: "chunk", Name: f.Name, ChunkOffset: c.fileN - c.chunkN,
			ChunkSize: c.chunkN, ChunkDigest: sum, frame: frame})
	}
	c.nChunks++
	c.startChunk()
	return nil
}

func (c *chunkedWriter) endContent() error {
	if err := c.endChunk(); err != nil {
		return err
	}
	e := &c.entries[c.reg]
	e.Digest = "sha256:" + hex.EncodeToString(c.file.Sum(nil))
	e.endFrame = c.frames
	if c.nChunks == 1 {
		// One chunk: the file's digest says it all.
		e.ChunkSize, e.ChunkDigest = 0, ""
	}
	c.reg, c.inBody = -1, false
	return nil
}

func (c *chunkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.inBody {
		c.job.add(p)
		return len(p), nil
	}
	n := len(p)
	for len(p) > 0 {
		limit := min(len(p), int(chunkedMaxChunk-c.chunkN))
		cut := c.roll.split(p[:limit])
		if cut < 0 && limit == int(chunkedMaxChunk-c.chunkN) {
			cut = limit
		}
		take := limit
		if cut >= 0 {
			take = cut
		}
		c.job.add(p[:take])
		c.file.Write(p[:take])
		if c.nChunks > 0 {
			c.chunk.Write(p[:take])
		}
		c.chunkN += int64(take)
		c.fileN += int64(take)
		p = p[take:]
		if cut >= 0 {
			if c.err = c.endChunk(); c.err != nil {
				return n - len(p), c.err
			}
		}
	}
	return n, nil
}

// Close compresses the last frames, then writes the table of contents and
// the footer. It always stops the encoder's goroutines.
func (c *chunkedWriter) Close() error {
	if c.e == nil {
		return c.err
	}
	err := c.err
	if err == nil {
		err = c.e.submit(c.job)
	}
	cerr := c.e.close()
	if err == nil {
		err = cerr
	}
	sizes := c.e.sizes
	c.e = nil
	if err != nil {
		return err
	}
	offsets := make([]int64, len(sizes)+1)
	for i, s := range sizes {
		offsets[i+1] = offsets[i] + s
	}
	for i := range c.entries {
		e := &c.entries[i]
		if e.Type == "chunk" || (e.Type == "reg" && e.Size > 0) {
			e.Offset = offsets[e.frame]
		}
		if e.Type == "reg" && e.Size > 0 {
			e.EndOffset = offsets[e.endFrame]
		}
	}
	c.annotations, err = c.writeTOC(offsets[len(sizes)])
	return err
}

// writeTOC writes the table of contents and the footer after the frames,
// which end at offset, and returns the descriptor's annotations.
func (c *chunkedWriter) writeTOC(offset int64) (map[string]string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toc{Version: 1, Entries: c.entries}); err != nil {
		return nil, err
	}
	manifest := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	e, err := newFrameEncoder(io.Discard, c.level, 1)
	if err != nil {
		return nil, err
	}
	compressed := e.enc.EncodeAll(manifest, nil)
	e.close()
	tocOffset := offset + 8
	footer := make([]byte, chunkedFooter)
	binary.LittleEndian.PutUint64(footer, uint64(tocOffset))
	binary.LittleEndian.PutUint64(footer[8:], uint64(len(compressed)))
	binary.LittleEndian.PutUint64(footer[16:], uint64(len(manifest)))
	binary.LittleEndian.PutUint64(footer[24:], 1) // manifest type: CRFS-like TOC
	copy(footer[32:], chunkedMagic)
	for _, data := range [][]byte{compressed, footer} {
		if err := writeSkippable(c.w, data); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(compressed)
	return map[string]string{
		ChunkedManifestChecksum: "sha256:" + hex.EncodeToString(sum[:]),
		ChunkedManifestPosition: fmt.Sprintf("%d:%d:%d:1", tocOffset, len(compressed), len(manifest)),
	}, nil
}

// writeSkippable writes data as a zstd skippable frame, which every zstd
// decoder passes over.
func writeSkippable(w io.Writer, data []byte) error {
	head := make([]byte, 8)
	copy(head, skippableHead)
	binary.LittleEndian.PutUint32(head[4:], uint32(len(data)))
	if _, err := w.Write(head); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// rollsum is bup's rolling checksum over a 64-byte window, the one
// containers/storage cuts chunks with.
type rollsum struct {
	s1, s2 uint32
	window [64]byte
	wofs   int
}

const rollsumCharOffset = 31

func newRollsum() rollsum {
	return rollsum{s1: 64 * rollsumCharOffset, s2: 64 * 63 * rollsumCharOffset}
}

// split rolls p in and returns the length of p up to and including the
// first byte after which the checksum's low ChunkedRollsumBits bits are
// all set, or -1 when there is none in p (all of p rolled in).
func (r *rollsum) split(p []byte) int {
	const mask = 1<<ChunkedRollsumBits - 1
	s1, s2, wofs := r.s1, r.s2, r.wofs
	for i, ch := range p {
		drop := uint32(r.window[wofs])
		s1 += uint32(ch) - drop
		s2 += s1 - 64*(drop+rollsumCharOffset)
		r.window[wofs] = ch
		wofs = (wofs + 1) & 63
		if s2&mask == mask {
			r.s1, r.s2, r.wofs = s1, s2, wofs
			return i + 1
		}
	}
	r.s1, r.s2, r.wofs = s1, s2, wofs
	return -1
}
