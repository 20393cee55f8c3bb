package nixfix

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// NarInfo is the NAR serialisation hash and size of a file tree.
type NarInfo struct {
	Base32 string // "sha256:<nix base32>" (exportReferencesGraph form)
	SRI    string // "sha256-<base64>" (nix path-info form)
	Size   int64
}

// Nar serialises the tree at path as a Nix archive and returns its hash and
// size, as Nix would for a store path with that content. Only the x bit of
// regular files matters, so the result survives a git checkout.
func Nar(path string) (NarInfo, error) {
	h := sha256.New()
	w := &narWriter{w: h}
	w.str("nix-archive-1")
	if err := w.node(path); err != nil {
		return NarInfo{}, err
	}
	if w.err != nil {
		return NarInfo{}, w.err
	}
	sum := h.Sum(nil)
	return NarInfo{
		Base32: "sha256:" + nixBase32(sum),
		SRI:    "sha256-" + base64.StdEncoding.EncodeToString(sum),
		Size:   w.n,
	}, nil
}

type narWriter struct {
	w   hash.Hash
	n   int64
	err error
}

func (w *narWriter) raw(b []byte) {
	if w.err == nil {
		var k int
		k, w.err = w.w.Write(b)
		w.n += int64(k)
	}
}

func (w *narWriter) str(s string) {
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(len(s)))
	w.raw(l[:])
	w.raw([]byte(s))
	w.pad(int64(len(s)))
}

func (w *narWriter) pad(n int64) {
	if r := n % 8; r != 0 {
		w.raw(make([]byte, 8-r))
	}
}

func (w *narWriter) node(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	w.str("(")
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		w.str("type")
		w.str("symlink")
		w.str("target")
		w.str(target)
	case fi.IsDir():
		w.str("type")
		w.str("directory")
		ents, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		names := make([]string, len(ents))
		for i, e := range ents {
			names[i] = e.Name()
		}
		sort.Strings(names)
		for _, name := range names {
			w.str("entry")
			w.str("(")
			w.str("name")
			w.str(name)
			w.str("node")
			if err := w.node(filepath.Join(p, name)); err != nil {
				return err
			}
			w.str(")")
		}
	case fi.Mode().IsRegular():
		w.str("type")
		w.str("regular")
		if fi.Mode()&0o100 != 0 {
			w.str("executable")
			w.str("")
		}
		w.str("contents")
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var l [8]byte
		binary.LittleEndian.PutUint64(l[:], uint64(fi.Size()))
		w.raw(l[:])
		n, err := io.Copy(writerFunc(w.raw), f)
		if err != nil {
			return err
		}
		if n != fi.Size() {
			return fmt.Errorf("%s changed size while reading", p)
		}
		w.pad(n)
	default:
		return fmt.Errorf("%s: unsupported file type %v", p, fi.Mode().Type())
	}
	w.str(")")
	return nil
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// nixBase32 encodes a hash in Nix's base32 (alphabet without e o t u,
// least significant bits first).
func nixBase32(b []byte) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	n := (len(b)*8-1)/5 + 1
	out := make([]byte, 0, n)
	for i := n - 1; i >= 0; i-- {
		bit := i * 5
		j, k := bit/8, bit%8
		c := b[j] >> k
		if j+1 < len(b) {
			c |= b[j+1] << (8 - k)
		}
		out = append(out, alphabet[c&0x1f])
	}
	return string(out)
}
