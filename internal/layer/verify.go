package layer

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/nix-community/go-nix/pkg/wire"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// TamperedPathError reports a store path whose contents are not the ones
// Nix registered: the NAR serialisation of what was read does not have
// the path's NarHash (a file changed after Nix registered the path, by
// another builder or by disk corruption).
type TamperedPathError struct {
	Path string // the store path
	Want string // its NarHash, canonical spelling ("sha256:<nix-base32>")
	Got  string // the hash of what was read, same spelling
}

func (e *TamperedPathError) Error() string {
	return fmt.Sprintf("store path %s was modified after Nix registered it: its contents hash to %s, the Nix database says %s; repair it with `nix-store --repair-path %s` (and check the store with `nix-store --verify --check-contents`)",
		e.Path, e.Got, e.Want, e.Path)
}

// NARCheck hashes the NAR serialisation of one store path from its
// entries, in the order a Source yields them (NAR order), and compares it
// with the path's NarHash: the file bytes are hashed as they are read, so
// checking costs no second read. The NAR is written synchronously, token
// by token, with go-nix's wire encoding (go-nix's nar.Writer hands every
// header to a goroutine of its own, which costs two goroutine switches an
// entry). The SHA-256 runs on a goroutine of its own, beside the walk and
// the compressor. Use Entry for every entry, then Finish; Abort releases a
// check that will not be finished.
type NARCheck struct {
	path string
	want string
	sum  *hashWorker
	w    *bufio.Writer
	dirs []string          // open directories, outermost first ("" is the root)
	body *wire.BytesWriter // contents of the open regular file
	file string            // its path below the root ("" is the root)
	last string            // the previous entry
	n    int               // entries so far
	done bool
}

// NewNARCheck starts checking store path p (an absolute path, the root of
// the NAR) against narHash (any spelling Nix uses).
func NewNARCheck(p, narHash string) (*NARCheck, error) {
	want, err := nixpath.NormalizeHash(narHash)
	if err != nil {
		return nil, fmt.Errorf("store path %s: %w", p, err)
	}
	c := &NARCheck{path: p, want: want, sum: newHashWorker()}
	c.w = bufio.NewWriterSize(c.sum, 32<<10)
	c.tokens("nix-archive-1")
	return c, nil
}

// tokens writes NAR strings (to the buffer in front of the hash: they
// cannot fail).
func (c *NARCheck) tokens(ts ...string) {
	for _, t := range ts {
		wire.WriteString(c.w, t)
	}
}

// Entry adds e (whose Path is p or below it) to the NAR. For a regular
// file it returns the reader to take the body from instead of e.Body: it
// hashes the bytes as they are read, and the whole body must be read
// before the next call.
func (c *NARCheck) Entry(e *Entry) (io.Reader, error) {
	rel, ok := strings.CutPrefix(e.Path, c.path)
	switch {
	case c.done:
		return nil, fmt.Errorf("store path %s: NAR check already finished", c.path)
	case !ok || rel != "" && rel[0] != '/':
		return nil, fmt.Errorf("store path %s: entry %s is outside it", c.path, e.Path)
	case c.n == 0 && rel != "":
		return nil, fmt.Errorf("store path %s: first entry %s is not the store path itself", c.path, e.Path)
	case c.n > 0 && !narLess(c.last, e.Path):
		return nil, fmt.Errorf("store path %s: entry %s after %s, not in NAR order", c.path, e.Path, c.last)
	}
	c.n++
	c.last = e.Path
	if err := c.closeFile(); err != nil {
		return nil, err
	}
	if rel != "" {
		for len(c.dirs) > 0 && !strings.HasPrefix(rel, c.dirs[len(c.dirs)-1]+"/") {
			c.closeDir()
		}
		parent := path.Dir(rel)
		if parent == "/" {
			parent = ""
		}
		if len(c.dirs) == 0 || c.dirs[len(c.dirs)-1] != parent {
			return nil, fmt.Errorf("store path %s: entry %s is not inside a directory entry", c.path, e.Path)
		}
		c.tokens("entry", "(", "name", path.Base(rel), "node")
	}
	c.tokens("(", "type")
	switch {
	case e.Mode.IsRegular():
		c.tokens("regular")
		if e.Mode&0o100 != 0 {
			c.tokens("executable", "")
		}
		c.tokens("contents")
		c.body, _ = wire.NewBytesWriter(c.w, uint64(e.Size))
		c.file = rel
		return io.TeeReader(e.Body, c.body), nil
	case e.Mode.IsDir():
		c.tokens("directory")
		c.dirs = append(c.dirs, rel)
	case e.Mode&fs.ModeSymlink != 0:
		c.tokens("symlink", "target", e.Linkname, ")")
		if rel != "" {
			c.tokens(")")
		}
	default:
		return nil, &UnsupportedFileError{Path: e.Path, Mode: e.Mode}
	}
	return nil, nil
}

// closeFile ends the open regular file, if any: all its bytes must have
// been read.
func (c *NARCheck) closeFile() error {
	if c.body == nil {
		return nil
	}
	err := c.body.Close()
	c.body = nil
	if err != nil {
		return fmt.Errorf("store path %s: hashing %s%s: %w", c.path, c.path, c.file, err)
	}
	c.tokens(")")
	if c.file != "" {
		c.tokens(")")
	}
	return nil
}

// closeDir ends the innermost open directory.
func (c *NARCheck) closeDir() {
	d := c.dirs[len(c.dirs)-1]
	c.dirs = c.dirs[:len(c.dirs)-1]
	c.tokens(")")
	if d != "" {
		c.tokens(")")
	}
}

// Finish ends the NAR and returns a *TamperedPathError when its hash is not
// the store path's NarHash.
func (c *NARCheck) Finish() error {
	if c.done || c.n == 0 {
		c.Abort()
		return fmt.Errorf("store path %s: NAR check finished twice or without entries", c.path)
	}
	if err := c.closeFile(); err != nil {
		c.Abort()
		return err
	}
	c.done = true
	for len(c.dirs) > 0 {
		c.closeDir()
	}
	c.w.Flush() // cannot fail: hashWorker.Write does not
	if got := nixpath.FormatSHA256(c.sum.Sum()); got != c.want {
		return &TamperedPathError{Path: c.path, Want: c.want, Got: got}
	}
	return nil
}

// Abort releases a check that will not be finished (its hashing
// goroutine). It is safe to call more than once, and after Finish.
func (c *NARCheck) Abort() {
	if !c.done {
		c.done = true
		c.sum.stop()
	}
}

// hashChunk is the most hashWorker copies into one buffer.
const hashChunk = 128 << 10

// hashBuffers bounds the buffers of a hashWorker: those queued, the one
// being hashed and the one being filled.
const hashBuffers = 6

// hashWorker is a SHA-256 computed on a goroutine of its own: Write copies
// into one of at most hashBuffers buffers and hands it over, so hashing
// overlaps the caller's reading, tar writing and compressing.
type hashWorker struct {
	h       hash.Hash
	ch      chan []byte // to hash
	free    chan []byte // hashed, for reuse
	done    chan struct{}
	stopped bool
}

func newHashWorker() *hashWorker {
	w := &hashWorker{h: sha256.New(), ch: make(chan []byte, hashBuffers-2), free: make(chan []byte, hashBuffers), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for b := range w.ch {
			w.h.Write(b)
			w.free <- b[:0]
		}
	}()
	return w
}

// Write queues a copy of p for hashing. It never fails.
func (w *hashWorker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		var b []byte
		select {
		case b = <-w.free:
		default:
			b = make([]byte, 0, min(len(p), hashChunk))
		}
		k := min(len(p), hashChunk)
		w.ch <- append(b, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// Sum waits for everything written to be hashed and returns the digest.
func (w *hashWorker) Sum() []byte {
	w.stop()
	return w.h.Sum(nil)
}

// stop ends the goroutine once it has hashed what was written.
func (w *hashWorker) stop() {
	if !w.stopped {
		w.stopped = true
		close(w.ch)
		<-w.done
	}
}
