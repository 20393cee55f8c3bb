package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/org/nix-layer-action/internal/fsmode"
)

// entryTime is the fixed modification time of every tar entry.
var entryTime = time.Unix(1, 0)

const copyBufferSize = 256 << 10

// node is one directory entry of the layer's own tree: the synthesized
// files, their parent directories, the store directory and its parents,
// and the store paths (whose contents stream from the Source).
type node struct {
	name   string // absolute in-image path
	file   *File  // nil for an implicit directory or a store path
	where  string // for messages: "files[3] (/etc/passwd)"
	store  bool   // a store path
	hash   string // a store path's NarHash
	kids   map[string]*node
	source int64 // size of a File's Source, stat'd up front
}

func (n *node) isDir() bool { return !n.store && (n.file == nil || n.file.Mode.IsDir()) }

// tree builds the layer's tree from a validated spec. Everything that can
// fail without reading store contents fails here, before a byte is written.
func tree(s Spec, paths []StorePath) (*node, error) {
	root := &node{name: "/", kids: map[string]*node{}}
	storeDir := s.storeDir()
	if _, err := root.dir(storeDir, storeDir); err != nil {
		return nil, err
	}
	for i := range s.Files {
		f := &s.Files[i]
		where := fmt.Sprintf("files[%d] (%s)", i, f.Path)
		parent, err := root.dir(path.Dir(f.Path), f.Path)
		if err != nil {
			return nil, err
		}
		n := parent.child(path.Base(f.Path))
		if n.file != nil {
			return nil, fmt.Errorf("duplicate file %s: %s and %s", f.Path, n.where, where)
		}
		if !f.Mode.IsDir() && len(n.kids) > 0 {
			return nil, fmt.Errorf("%s is not a directory but %s is inside it", where, firstKid(n))
		}
		n.file, n.where = f, where
		if f.Mode.IsRegular() && f.Source != "" {
			if n.source, err = sourceSize(*f, where); err != nil {
				return nil, err
			}
		}
	}
	sd, _ := root.dir(storeDir, storeDir)
	for _, p := range paths {
		c := sd.child(path.Base(p.Path))
		c.store, c.hash = true, p.NarHash
	}
	return root, nil
}

// dir returns the directory node at p, creating implicit ones on the way.
func (n *node) dir(p, child string) (*node, error) {
	cur := n
	if p == "/" {
		return cur, nil
	}
	for _, seg := range strings.Split(p[1:], "/") {
		next := cur.child(seg)
		if !next.isDir() {
			return nil, fmt.Errorf("%s (%s) is not a directory but %s is inside it", next.name, next.where, child)
		}
		cur = next
	}
	return cur, nil
}

func (n *node) child(name string) *node {
	c, ok := n.kids[name]
	if !ok {
		c = &node{name: path.Join(n.name, name), kids: map[string]*node{}, where: "implicit parent directory"}
		n.kids[name] = c
	}
	return c
}

func firstKid(n *node) string {
	for _, k := range n.kids {
		return k.name
	}
	return ""
}

// tarWriter writes the entries of one layer in order.
type tarWriter struct {
	ctx   context.Context
	tw    *tar.Writer
	out   io.Writer // tw, hiding tar.Writer.ReadFrom so buf is used
	buf   []byte
	perms []Perm
	src   Source
	hook  func(string)
	entry func(string, fs.FileMode, string) // Options.OnEntry
	mark  entryMarker                       // zstd:chunked: told where entries and contents begin
	flush func() error                      // flushes the buffer in front of mark
	// noVerify skips checking store paths against their NarHash
	// (Options.noVerify: benchmarks only).
	noVerify bool
}

// walk writes n and everything below it, children in byte order of name.
func (w *tarWriter) walk(n *node) error {
	if n.name != "/" {
		if err := w.node(n); err != nil {
			return err
		}
	}
	if n.store {
		return nil
	}
	names := make([]string, 0, len(n.kids))
	for k := range n.kids {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if err := w.walk(n.kids[k]); err != nil {
			return err
		}
	}
	return nil
}

func (w *tarWriter) node(n *node) error {
	switch {
	case n.store:
		return w.storePath(n)
	case n.file == nil:
		return w.write(&tar.Header{Typeflag: tar.TypeDir, Name: n.name, Mode: 0o755}, nil)
	}
	f := n.file
	h := &tar.Header{Name: f.Path, Mode: int64(fsmode.ToUnix(f.Mode)), Uid: f.UID, Gid: f.GID}
	switch {
	case f.Mode.IsDir():
		h.Typeflag = tar.TypeDir
	case f.Mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Linkname
	case f.Source != "":
		h.Typeflag, h.Size = tar.TypeReg, n.source
		return withFile(f.Source, n.source, func(r io.Reader) error {
			if f.SHA256 == "" {
				return w.write(h, r)
			}
			sum := sha256.New()
			if err := w.write(h, io.TeeReader(r, sum)); err != nil {
				return err
			}
			if got := hex.EncodeToString(sum.Sum(nil)); got != f.SHA256 {
				return &ChangedFileError{Path: f.Path, Source: f.Source, Want: f.SHA256, Got: got}
			}
			return nil
		})
	default:
		h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		return w.write(h, bytes.NewReader(f.Data))
	}
	return w.write(h, nil)
}

// storePath writes store path n from the Source, hashing its NAR as it
// goes (one read of every byte), and fails with *TamperedPathError when
// what was read is not what its NarHash says: before the layer is
// finished, so no tampered byte can reach a publisher.
func (w *tarWriter) storePath(n *node) error {
	if w.noVerify {
		return w.src.Walk(w.ctx, n.name, w.storeEntry(n.name, nil))
	}
	check, err := NewNARCheck(n.name, n.hash)
	if err != nil {
		return err
	}
	if err := w.src.Walk(w.ctx, n.name, w.storeEntry(n.name, check)); err != nil {
		check.Abort()
		return err
	}
	return check.Finish()
}

// storeEntry checks and writes the entries the Source yields for store
// path p, adding each to check when it is not nil.
func (w *tarWriter) storeEntry(p string, check *NARCheck) func(*Entry) error {
	last := ""
	return func(e *Entry) error {
		if e.Path != p && !strings.HasPrefix(e.Path, p+"/") {
			return fmt.Errorf("store path %s: source yielded %q, outside it", p, e.Path)
		}
		if last != "" && !narLess(last, e.Path) {
			return fmt.Errorf("store path %s: source yielded %q after %q, not in NAR order", p, e.Path, last)
		}
		last = e.Path
		h := &tar.Header{Name: e.Path, Mode: int64(fsmode.ToUnix(e.Mode))}
		switch {
		case e.Mode.IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, e.Size
		case e.Mode.IsDir():
			h.Typeflag = tar.TypeDir
		case e.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Linkname
		default:
			return &UnsupportedFileError{Path: e.Path, Mode: e.Mode}
		}
		body := e.Body
		if check != nil {
			r, err := check.Entry(e)
			if err != nil {
				return err
			}
			body = r
		}
		return w.write(h, body)
	}
}

// narLess reports whether a comes before b in NAR (depth-first, by name)
// order: component by component, byte-wise.
func narLess(a, b string) bool {
	for {
		ai, bi := strings.IndexByte(a, '/'), strings.IndexByte(b, '/')
		ac, bc := a, b
		if ai >= 0 {
			ac = a[:ai]
		}
		if bi >= 0 {
			bc = b[:bi]
		}
		if ac != bc {
			return ac < bc
		}
		if ai < 0 || bi < 0 {
			return ai < 0 && bi >= 0 // a is a parent of b
		}
		a, b = a[ai+1:], b[bi+1:]
	}
}

// write applies the perms, normalises the header and writes it with body.
func (w *tarWriter) write(h *tar.Header, body io.Reader) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.hook != nil {
		w.hook(h.Name)
	}
	w.applyPerms(h)
	name := h.Name
	if w.entry != nil {
		w.entry(name, h.FileInfo().Mode(), h.Linkname)
	}
	h.Name = name[1:]
	if h.Typeflag == tar.TypeDir {
		h.Name += "/"
	}
	h.ModTime, h.Format = entryTime, tar.FormatPAX
	if err := w.marked(func() error { return w.mark.entry(h) }); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if h.Typeflag != tar.TypeReg || h.Size == 0 {
		return nil
	}
	if err := w.marked(func() error { return w.mark.content() }); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	n, err := io.CopyBuffer(w.out, &ctxReader{ctx: w.ctx, r: body}, w.buf)
	if err == nil && n == h.Size {
		if err := w.marked(func() error { return w.mark.endContent() }); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case err != nil:
		return fmt.Errorf("copying %s: %w", name, err)
	case n != h.Size:
		return fmt.Errorf("%s: got %d of %d bytes", name, n, h.Size)
	}
	return nil
}

// marked flushes the buffered stream and calls mark, when there is an
// entryMarker.
func (w *tarWriter) marked(mark func() error) error {
	if w.mark == nil {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	return mark()
}

func (w *tarWriter) applyPerms(h *tar.Header) {
	for _, p := range w.perms {
		if !p.Regexp.MatchString(h.Name) {
			continue
		}
		if p.Mode != nil && h.Typeflag != tar.TypeSymlink {
			h.Mode = int64(fsmode.ToUnix(*p.Mode))
		}
		if p.UID != nil {
			h.Uid = *p.UID
		}
		if p.GID != nil {
			h.Gid = *p.GID
		}
	}
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
