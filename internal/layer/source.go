package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/org/nix-layer-action/internal/fsmode"
)

// Source yields the contents of store paths. A layer built from any Source
// is bit-identical to one built from any other holding the same contents:
// the order and the modes are fixed by this contract, not by the Source.
type Source interface {
	// Walk calls fn for every entry of store path p in NAR order: p itself
	// first, then depth-first, each directory's entries sorted by name
	// byte-wise. Walk stops at, and returns, the first error of fn.
	Walk(ctx context.Context, p string, fn func(*Entry) error) error
}

// Entry is one file system object of a store path.
type Entry struct {
	// Path is the in-image path: the store path itself or below it.
	Path string
	// Mode holds the type (regular, fs.ModeDir or fs.ModeSymlink) and the
	// canonical permission bits: 0444, or 0555 for executables and
	// directories, 0777 for symlinks, plus any setuid/setgid/sticky bits
	// the source really has.
	Mode     fs.FileMode
	Size     int64     // regular files
	Linkname string    // symlinks
	Body     io.Reader // regular files: exactly Size bytes; valid until fn returns
}

// CanonicalMode is the mode a store entry gets from the mode it has on
// disk: what Nix leaves in a store (a NAR records only the executable
// bit), so a checkout's umask or a tree copied by hand cannot change a
// layer's bytes under an unchanged NAR-hash key. Setuid/setgid/sticky bits
// are kept.
func CanonicalMode(m fs.FileMode) fs.FileMode {
	special := fsmode.FromUnix(fsmode.ToUnix(m) & 0o7000)
	switch {
	case m&fs.ModeSymlink != 0:
		return fs.ModeSymlink | 0o777
	case m.IsDir():
		return fs.ModeDir | 0o555 | special
	case m&0o100 != 0: // the owner's x bit, as a NAR records it
		return 0o555 | special
	default:
		return 0o444 | special
	}
}

// DirSource reads store paths from a directory tree on the host: the
// contents of in-image path P are at Root+P (Root "" means "/", the local
// Nix store).
type DirSource struct{ Root string }

func (d DirSource) root() string {
	if d.Root == "" {
		return ""
	}
	if r := filepath.Clean(d.Root); r != "/" {
		return r
	}
	return ""
}

// Walk walks the store path on disk without following symlinks
// (filepath.WalkDir visits each directory's entries in byte order of their
// names, which is NAR order).
func (d DirSource) Walk(ctx context.Context, p string, fn func(*Entry) error) error {
	host := d.root() + p
	if _, err := os.Lstat(host); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store path %s not found on disk at %s: %w", p, host, err)
		}
		return fmt.Errorf("store path %s (host path %s): %w", p, host, err)
	}
	n := 0
	return filepath.WalkDir(host, func(hp string, de fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("store path %s: walking %s: %w", p, hp, err)
		}
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		info, err := de.Info()
		if err != nil {
			return fmt.Errorf("store path %s: %w", p, err)
		}
		return visit(p+filepath.ToSlash(hp[len(host):]), hp, info, fn)
	})
}

func visit(name, hp string, info fs.FileInfo, fn func(*Entry) error) error {
	e := &Entry{Path: name, Mode: CanonicalMode(info.Mode())}
	switch m := info.Mode(); {
	case m.IsRegular():
		return withFile(hp, info.Size(), func(r io.Reader) error {
			e.Size, e.Body = info.Size(), r
			return fn(e)
		})
	case m.IsDir():
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(hp)
		if err != nil {
			return err
		}
		e.Linkname = target
	default:
		return &UnsupportedFileError{Path: hp, Mode: m}
	}
	return fn(e)
}

// withFile opens the regular file at host, checks it still has the size
// the walk saw, and hands fn a reader of exactly that many bytes.
func withFile(host string, size int64, fn func(io.Reader) error) error {
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
	return fn(&exactReader{r: io.LimitReader(f, size), name: host, want: size})
}

// exactReader reports a file that shrank while it was being read.
type exactReader struct {
	r    io.Reader
	name string
	want int64
	got  int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.got += int64(n)
	if errors.Is(err, io.EOF) && e.got < e.want {
		return n, fmt.Errorf("%s shrank while building the layer (read %d of %d bytes)", e.name, e.got, e.want)
	}
	return n, err
}
