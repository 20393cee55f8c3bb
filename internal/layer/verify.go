package layer

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
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
// checking costs no second read. Use Entry for every entry, then Finish;
// Abort releases it after an error.
type NARCheck struct {
	path string
	want string
	sum  hash.Hash
	buf  *bufio.Writer
	nw   *nar.Writer
	done bool
}

// NewNARCheck starts checking store path p (an absolute path, the root of
// the NAR) against narHash (any spelling Nix uses).
func NewNARCheck(p, narHash string) (*NARCheck, error) {
	want, err := nixpath.NormalizeHash(narHash)
	if err != nil {
		return nil, fmt.Errorf("store path %s: %w", p, err)
	}
	c := &NARCheck{path: p, want: want, sum: sha256.New()}
	c.buf = bufio.NewWriterSize(c.sum, 32<<10)
	if c.nw, err = nar.NewWriter(c.buf); err != nil {
		return nil, err
	}
	return c, nil
}

// Entry adds e (whose Path is p or below it) to the NAR. For a regular
// file it returns the reader to take the body from instead of e.Body: it
// hashes the bytes as they are read, and the whole body must be read
// before the next call.
func (c *NARCheck) Entry(e *Entry) (io.Reader, error) {
	rel, ok := strings.CutPrefix(e.Path, c.path)
	if !ok || rel != "" && rel[0] != '/' {
		return nil, fmt.Errorf("store path %s: entry %s is outside it", c.path, e.Path)
	}
	h := &nar.Header{Path: rel}
	if rel == "" {
		h.Path = "/"
	}
	switch {
	case e.Mode.IsRegular():
		h.Type, h.Size, h.Executable = nar.TypeRegular, e.Size, e.Mode&0o100 != 0
	case e.Mode.IsDir():
		h.Type = nar.TypeDirectory
	case e.Mode&fs.ModeSymlink != 0:
		h.Type, h.LinkTarget = nar.TypeSymlink, e.Linkname
	default:
		return nil, &UnsupportedFileError{Path: e.Path, Mode: e.Mode}
	}
	if err := c.nw.WriteHeader(h); err != nil {
		return nil, fmt.Errorf("store path %s: hashing %s as NAR: %w", c.path, e.Path, err)
	}
	if h.Type != nar.TypeRegular {
		return nil, nil
	}
	return io.TeeReader(e.Body, c.nw), nil
}

// Finish ends the NAR and returns a *TamperedPathError when its hash is not
// the store path's NarHash.
func (c *NARCheck) Finish() error {
	if c.done {
		return fmt.Errorf("store path %s: NAR check already finished", c.path)
	}
	c.done = true
	if err := c.nw.Close(); err != nil {
		return fmt.Errorf("store path %s: hashing as NAR: %w", c.path, err)
	}
	if err := c.buf.Flush(); err != nil {
		return err
	}
	if got := nixpath.FormatSHA256(c.sum.Sum(nil)); got != c.want {
		return &TamperedPathError{Path: c.path, Want: c.want, Got: got}
	}
	return nil
}

// Abort releases the check after an error (go-nix's writer runs a
// goroutine until it is closed). It is safe after Finish.
func (c *NARCheck) Abort() {
	if !c.done {
		c.done = true
		c.nw.Close()
	}
}
