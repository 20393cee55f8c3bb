// Package rootfs produces the non-store entries of an image's "root" layer:
// the contents of root-fs store paths copied to "/" (nix2container's
// copyToRoot), /etc/passwd and /etc/group for plan users, /tmp, and the
// Nix state directories. It only produces []layer.File; writing tar is the
// job of package layer.
//
// Merging rules (Collect and Merge): two entries at the same path are fine
// when both are directories (they merge; the later one's mode and owner
// win) or when they are identical (same type, permission bits, owner and
// bytes, or the same symlink target). Anything else is a *ConflictError
// naming the path and both sources.
package rootfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/layer"
)

// Source is one root-fs dependency: a store path whose contents go to "/".
type Source struct {
	Label     string // the dep as written in the plan, for error messages
	StorePath string // in-image store path, e.g. /nix/store/<hash>-env
	// From, when set, is where the contents are read (e.g. a substituter's
	// NAR stream, for a path the local store lacks); nil reads the host
	// directory under Collect's storeRoot.
	From layer.Source
	// NarHash is the store path's registered NAR hash. When set, a host
	// directory is checked against it as it is read (Collect fails with
	// *layer.TamperedPathError), and every file taken from it is pinned
	// to the bytes checked (layer.File.SHA256). From's walks are checked
	// by From itself (a substituter's NAR stream).
	NarHash string
}

// Set is a labelled group of entries for Merge.
type Set struct {
	Label string // e.g. "users", "tmp", "nix-db", or a root dep
	Files []layer.File
}

// ConflictError reports two sources that put different content at the same
// path.
type ConflictError struct {
	Path          string // in-image path, e.g. "/bin/sh"
	First, Second string // the two sources (plan deps or generated sets)
	Reason        string // how they differ
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("root filesystem conflict at %s: %s and %s put different content there (%s)",
		e.Path, e.First, e.Second, e.Reason)
}

// StoreOverlapError reports root-filesystem contents inside the store
// directory: placed at /, they would replace files of a store path (held
// by some layer) while the Nix database still registers the original.
type StoreOverlapError struct {
	Source string // the root dep
	Path   string // the in-image path inside the store
	Holder string // what it would replace, when known ("store path … of layer …")
}

func (e *StoreOverlapError) Error() string {
	msg := fmt.Sprintf("root dep %s puts %s inside the store", e.Source, e.Path)
	if e.Holder != "" {
		msg += ", over " + e.Holder
	}
	return msg + "; root contents may not lie in the store (store paths come only from the closure)"
}

// modeMask keeps the type and permission bits that matter in a layer.
const modeMask = fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Collect returns the contents of every source re-rooted at "/"
// (<store path>/bin/sh → /bin/sh), sorted by path. A source is read from
// the host directory storeRoot+StorePath without following symlinks
// (regular files refer to their host file, File.Source), or, when it has
// From, walked from there (a substituter's NAR: regular files are held in
// memory, File.Data). Symlinks keep their target unchanged, and every
// entry is owned by root. Both ways give the same files for the same
// contents. The store path itself must be a directory, and nothing in it
// may land inside storeDir ("" = /nix/store): that is a
// *StoreOverlapError.
func Collect(ctx context.Context, sources []Source, storeRoot, storeDir string) ([]layer.File, error) {
	if storeDir == "" {
		storeDir = layer.DefaultStoreDir
	}
	m := newMerger()
	for _, src := range sources {
		label := describe(src)
		if !path.IsAbs(src.StorePath) {
			return nil, fmt.Errorf("root dep %s: store path %q is not absolute", label, src.StorePath)
		}
		add := func(f layer.File) error {
			if strings.HasPrefix(f.Path+"/", storeDir+"/") && (f.Path != storeDir || !f.Mode.IsDir()) {
				return &StoreOverlapError{Source: label, Path: f.Path}
			}
			return m.add(label, f)
		}
		var err error
		if src.From != nil {
			err = collectFrom(ctx, src, label, add)
		} else {
			err = collectHost(storeRoot+src.StorePath, src, label, add)
		}
		if err != nil {
			return nil, err
		}
	}
	return m.files(), nil
}

// collectHost walks the host directory host (the contents of src's store
// path), checking them against src.NarHash when it is set: the walk is in
// NAR order (filepath.WalkDir sorts by name), and each file's bytes are
// read once, hashed both into the NAR and alone (File.SHA256).
func collectHost(host string, src Source, label string, add func(layer.File) error) error {
	info, err := os.Lstat(host)
	if err != nil {
		return fmt.Errorf("root dep %s: %w", label, err)
	}
	if !info.IsDir() {
		return notADirectory(label, host, info.Mode())
	}
	var check *layer.NARCheck
	if src.NarHash != "" {
		if check, err = layer.NewNARCheck(src.StorePath, src.NarHash); err != nil {
			return fmt.Errorf("root dep %s: %w", label, err)
		}
	}
	err = filepath.WalkDir(host, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("root dep %s: %w", label, err)
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("root dep %s: %w", label, err)
		}
		// The mode the store path's own layer gives it (and its NAR), not
		// what a hand-made tree or a checkout's umask left on disk.
		f := layer.File{Path: filepath.ToSlash(hp[len(host):]), Mode: layer.CanonicalMode(info.Mode()) & modeMask}
		switch mode := info.Mode(); {
		case mode.IsRegular():
			f.Source = hp
		case mode.IsDir():
		case mode&fs.ModeSymlink != 0:
			if f.Linkname, err = os.Readlink(hp); err != nil {
				return fmt.Errorf("root dep %s: %w", label, err)
			}
		default:
			return fmt.Errorf("root dep %s: %w", label, &layer.UnsupportedFileError{Path: hp, Mode: mode})
		}
		if check != nil {
			if f.SHA256, err = checkEntry(check, src.StorePath+f.Path, f, info.Size()); err != nil {
				return fmt.Errorf("root dep %s: %w", label, err)
			}
		}
		if hp == host {
			return nil // the store path itself becomes "/"
		}
		return add(f)
	})
	if check == nil {
		return err
	}
	if err != nil {
		check.Abort()
		return err
	}
	if err := check.Finish(); err != nil {
		return fmt.Errorf("root dep %s: %w", label, err)
	}
	return nil
}

// checkEntry adds f, the entry of store path entry name, to check,
// reading a regular file's bytes from f.Source, and returns their hex
// SHA-256.
func checkEntry(check *layer.NARCheck, name string, f layer.File, size int64) (string, error) {
	e := &layer.Entry{Path: name, Mode: f.Mode, Linkname: f.Linkname}
	if !f.Mode.IsRegular() {
		_, err := check.Entry(e)
		return "", err
	}
	r, err := os.Open(f.Source)
	if err != nil {
		return "", err
	}
	defer r.Close()
	e.Size, e.Body = size, io.LimitReader(r, size)
	body, err := check.Entry(e)
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	if n, err := io.Copy(sum, body); err != nil {
		return "", fmt.Errorf("reading %s: %w", f.Source, err)
	} else if n != size {
		return "", fmt.Errorf("%s changed while it was read (%d of %d bytes)", f.Source, n, size)
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// collectFrom walks src.StorePath through src.From, holding regular
// files' contents in memory.
func collectFrom(ctx context.Context, src Source, label string, add func(layer.File) error) error {
	return src.From.Walk(ctx, src.StorePath, func(e *layer.Entry) error {
		if e.Path == src.StorePath {
			if !e.Mode.IsDir() {
				return notADirectory(label, src.StorePath, e.Mode)
			}
			return nil // the store path itself becomes "/"
		}
		rel, ok := strings.CutPrefix(e.Path, src.StorePath+"/")
		if !ok {
			return fmt.Errorf("root dep %s: entry %s is outside %s", label, e.Path, src.StorePath)
		}
		f := layer.File{Path: "/" + rel, Mode: e.Mode & modeMask, Linkname: e.Linkname}
		if e.Mode.IsRegular() {
			if b, ok := e.Body.(interface{ Bytes() []byte }); ok && int64(len(b.Bytes())) == e.Size {
				f.Data = b.Bytes() // already in memory: shared, not copied
				return add(f)
			}
			data, err := io.ReadAll(io.LimitReader(e.Body, e.Size+1))
			if err != nil {
				return fmt.Errorf("root dep %s: %s: %w", label, e.Path, err)
			}
			if int64(len(data)) != e.Size {
				return fmt.Errorf("root dep %s: %s: %d bytes, the entry says %d", label, e.Path, len(data), e.Size)
			}
			f.Data = data
		}
		return add(f)
	})
}

func notADirectory(label, p string, mode fs.FileMode) error {
	return fmt.Errorf("root dep %s: %s is a %s, not a directory; only a directory's contents can be placed at /",
		label, p, kind(mode))
}

// Merge combines labelled sets of entries (e.g. Collect's result, Users,
// Tmp, nix-db files) into one sorted list without duplicate paths, as
// layer.Build requires. Later sets win on directory attributes, so pass
// generated sets (users' home directories, writable Nix state) after the
// root-fs contents.
func Merge(sets ...Set) ([]layer.File, error) {
	m := newMerger()
	for _, s := range sets {
		for _, f := range s.Files {
			if err := m.add(s.Label, f); err != nil {
				return nil, err
			}
		}
	}
	return m.files(), nil
}

func describe(s Source) string {
	switch {
	case s.Label == "":
		return s.StorePath
	case s.Label == s.StorePath:
		return s.Label
	default:
		return fmt.Sprintf("%s (%s)", s.Label, s.StorePath)
	}
}

type node struct {
	file  layer.File
	label string
	sum   []byte // sha256 of a regular file's content, computed lazily
}

type merger struct {
	byPath map[string]*node
}

func newMerger() *merger { return &merger{byPath: map[string]*node{}} }

func (m *merger) add(label string, f layer.File) error {
	if f.Path == "/" || !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
		return fmt.Errorf("%s: path %q is not an absolute, clean path below /", label, f.Path)
	}
	old, ok := m.byPath[f.Path]
	if !ok {
		m.byPath[f.Path] = &node{file: f, label: label}
		return nil
	}
	nw := &node{file: f, label: label}
	if old.file.Mode.IsDir() && f.Mode.IsDir() {
		m.byPath[f.Path] = nw // directories merge; the later attributes win
		return nil
	}
	reason, err := difference(old, nw)
	if err != nil {
		return fmt.Errorf("comparing %s from %s and %s: %w", f.Path, old.label, label, err)
	}
	if reason != "" {
		return &ConflictError{Path: f.Path, First: old.label, Second: label, Reason: reason}
	}
	return nil
}

func (m *merger) files() []layer.File {
	out := make([]layer.File, 0, len(m.byPath))
	for _, n := range m.byPath {
		out = append(out, n.file)
	}
	slices.SortFunc(out, func(a, b layer.File) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// difference returns "" when a and b are identical entries, else why not.
func difference(a, b *node) (string, error) {
	fa, fb := a.file, b.file
	if ta, tb := kind(fa.Mode), kind(fb.Mode); ta != tb {
		return fmt.Sprintf("a %s and a %s", ta, tb), nil
	}
	if fa.Mode != fb.Mode {
		return fmt.Sprintf("modes %v and %v", fa.Mode, fb.Mode), nil
	}
	if fa.UID != fb.UID || fa.GID != fb.GID {
		return fmt.Sprintf("owners %d:%d and %d:%d", fa.UID, fa.GID, fb.UID, fb.GID), nil
	}
	switch {
	case fa.Mode&fs.ModeSymlink != 0:
		if fa.Linkname != fb.Linkname {
			return fmt.Sprintf("symlinks to %q and %q", fa.Linkname, fb.Linkname), nil
		}
	case fa.Mode.IsRegular():
		if fa.Source != "" && fa.Source == fb.Source {
			return "", nil
		}
		sa, err := a.contentSum()
		if err != nil {
			return "", err
		}
		sb, err := b.contentSum()
		if err != nil {
			return "", err
		}
		if !bytes.Equal(sa, sb) {
			return "files with different contents", nil
		}
	}
	return "", nil
}

func (n *node) contentSum() ([]byte, error) {
	if n.sum == nil {
		s, err := contentSHA256(n.file)
		if err != nil {
			return nil, err
		}
		n.sum = s
	}
	return n.sum, nil
}

// contentSHA256 hashes a regular file's bytes (Data or Source), or
// decodes the SHA256 its Source was checked to have.
func contentSHA256(f layer.File) ([]byte, error) {
	if f.SHA256 != "" {
		return hex.DecodeString(f.SHA256)
	}
	h := sha256.New()
	if f.Source == "" {
		h.Write(f.Data)
		return h.Sum(nil), nil
	}
	if f.Data != nil {
		return nil, errors.New("both Data and Source set for " + f.Path)
	}
	r, err := os.Open(f.Source)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Source, err)
	}
	return h.Sum(nil), nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "regular file"
	default:
		return "special file (" + m.Type().String() + ")"
	}
}
