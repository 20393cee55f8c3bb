package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/fsmode"
)

// srcKind says where the contents of a regular file come from.
type srcKind uint8

const (
	srcNone   srcKind = iota // directories, symlinks, empty synthesized files
	srcStore                 // host file StoreRoot+name
	srcData                  // File.Data
	srcSource                // File.Source
)

// entry is one tar entry, collected (metadata only) before anything is
// written so that unsupported files fail the build early.
type entry struct {
	name     string // absolute in-image path without trailing slash
	typ      byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode     int64  // Unix permission bits incl. setuid/setgid/sticky
	uid, gid int
	size     int64
	linkname string
	src      srcKind
	data     []byte
	source   string // host path for srcSource
	origin   string // for error messages: "store path …", "files[i]", "implicit"
}

// collector gathers the entries of one layer.
type collector struct {
	ctx       context.Context
	storeRoot string // host prefix without trailing "/" ("" for "/")
	entries   []entry
	byName    map[string]int
	count     int
}

// collect lists every entry of the layer, sorted in tar order, with Perms
// applied.
func collect(ctx context.Context, spec Spec) ([]entry, error) {
	storeDir := spec.StoreDir
	if storeDir == "" {
		storeDir = DefaultStoreDir
	}
	if err := checkImagePath(storeDir); err != nil {
		return nil, fmt.Errorf("store dir: %w", err)
	}
	for i, p := range spec.Perms {
		if p.Regexp == nil {
			return nil, fmt.Errorf("perms[%d]: missing regexp", i)
		}
	}
	c := &collector{ctx: ctx, storeRoot: cleanStoreRoot(spec.StoreRoot), byName: make(map[string]int)}

	paths := slices.Clone(spec.Paths)
	slices.Sort(paths)
	paths = slices.Compact(paths)
	for _, p := range paths {
		if err := c.addStorePath(p); err != nil {
			return nil, err
		}
	}
	if err := c.addFiles(spec.Files); err != nil {
		return nil, err
	}
	if err := c.addParents(storeDir); err != nil {
		return nil, err
	}
	applyPerms(c.entries, spec.Perms)
	sortEntries(c.entries, storeDir)
	return c.entries, nil
}

// cleanStoreRoot returns the host prefix of the store: clean, without a
// trailing "/", and "" for "/".
func cleanStoreRoot(root string) string {
	if root == "" {
		return ""
	}
	if r := filepath.Clean(root); r != "/" {
		return r
	}
	return ""
}

// checkImagePath accepts absolute, clean in-image paths other than "/".
func checkImagePath(p string) error {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("path %q must be absolute and clean and not \"/\"", p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("path %q contains a NUL byte", p)
	}
	return nil
}

func (c *collector) hostPath(name string) string {
	return c.storeRoot + name
}

func (c *collector) add(e entry) error {
	if i, ok := c.byName[e.name]; ok {
		return fmt.Errorf("duplicate entry %s: from %s and from %s", e.name, c.entries[i].origin, e.origin)
	}
	c.byName[e.name] = len(c.entries)
	c.entries = append(c.entries, e)
	return nil
}

// addStorePath walks one store path without following symlinks.
func (c *collector) addStorePath(p string) error {
	if err := checkImagePath(p); err != nil {
		return fmt.Errorf("store path: %w", err)
	}
	host := c.hostPath(p)
	if _, err := os.Lstat(host); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store path %s not found on disk at %s: %w", p, host, err)
		}
		return fmt.Errorf("store path %s (host path %s): %w", p, host, err)
	}
	origin := "store path " + p
	return filepath.WalkDir(host, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("store path %s: walking %s: %w", p, hp, err)
		}
		c.count++
		if c.count%256 == 0 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("store path %s: %w", p, err)
		}
		e := entry{
			name:   p + hp[len(host):],
			mode:   storeMode(info.Mode()),
			origin: origin,
		}
		switch m := info.Mode(); {
		case m.IsRegular():
			e.typ, e.size, e.src = tar.TypeReg, info.Size(), srcStore
		case m.IsDir():
			e.typ = tar.TypeDir
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(hp)
			if err != nil {
				return fmt.Errorf("store path %s: %w", p, err)
			}
			e.typ, e.linkname = tar.TypeSymlink, target
		default:
			return &UnsupportedFileError{Path: hp, Mode: m}
		}
		return c.add(e)
	})
}

// addFiles validates and adds the synthesized entries.
func (c *collector) addFiles(files []File) error {
	seen := make(map[string]int, len(files))
	for i, f := range files {
		where := fmt.Sprintf("files[%d] (%s)", i, f.Path)
		if err := checkImagePath(f.Path); err != nil {
			return fmt.Errorf("files[%d]: %w", i, err)
		}
		if j, ok := seen[f.Path]; ok {
			return fmt.Errorf("duplicate file %s: files[%d] and files[%d]", f.Path, j, i)
		}
		seen[f.Path] = i
		if f.UID < 0 || f.GID < 0 {
			return fmt.Errorf("%s: negative uid/gid %d/%d", where, f.UID, f.GID)
		}
		e := entry{name: f.Path, mode: unixMode(f.Mode), uid: f.UID, gid: f.GID, origin: where}
		switch m := f.Mode; {
		case m.IsRegular():
			if f.Linkname != "" {
				return fmt.Errorf("%s: linkname set on a regular file", where)
			}
			switch {
			case f.Data != nil && f.Source != "":
				return fmt.Errorf("%s: both data and source set", where)
			case f.Source != "":
				info, err := os.Stat(f.Source)
				if err != nil {
					return fmt.Errorf("%s: source: %w", where, err)
				}
				if !info.Mode().IsRegular() {
					return &UnsupportedFileError{Path: f.Source, Mode: info.Mode()}
				}
				e.typ, e.size, e.src, e.source = tar.TypeReg, info.Size(), srcSource, f.Source
			default:
				e.typ, e.size, e.src, e.data = tar.TypeReg, int64(len(f.Data)), srcData, f.Data
			}
		case m.IsDir():
			if f.Data != nil || f.Source != "" || f.Linkname != "" {
				return fmt.Errorf("%s: directory with data, source or linkname", where)
			}
			e.typ = tar.TypeDir
		case m&fs.ModeSymlink != 0:
			if f.Linkname == "" {
				return fmt.Errorf("%s: symlink without linkname", where)
			}
			if f.Data != nil || f.Source != "" {
				return fmt.Errorf("%s: symlink with data or source", where)
			}
			e.typ, e.linkname = tar.TypeSymlink, f.Linkname
		default:
			return &UnsupportedFileError{Path: f.Path, Mode: m}
		}
		if err := c.add(e); err != nil {
			return err
		}
	}
	return nil
}

// addParents synthesizes the directories leading to the store dir and to
// every entry, and checks that no entry lives below a non-directory.
func (c *collector) addParents(storeDir string) error {
	implicit := func(dir string) entry {
		return entry{name: dir, typ: tar.TypeDir, mode: 0o755, origin: "implicit parent directory"}
	}
	ensure := func(name, child string) error {
		for dir := name; dir != "/"; dir = path.Dir(dir) {
			if i, ok := c.byName[dir]; ok {
				if c.entries[i].typ != tar.TypeDir {
					return fmt.Errorf("%s (%s) is not a directory but %s is inside it", dir, c.entries[i].origin, child)
				}
				continue // its own parents are checked when it is visited
			}
			if err := c.add(implicit(dir)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := ensure(storeDir, storeDir); err != nil {
		return err
	}
	for i := 0; i < len(c.entries); i++ { // grows while iterating; new dirs are checked too
		name := c.entries[i].name
		if err := ensure(path.Dir(name), name); err != nil {
			return err
		}
	}
	return nil
}

// applyPerms applies the Perms, in order, to every matching entry.
func applyPerms(entries []entry, perms []Perm) {
	if len(perms) == 0 {
		return
	}
	for i := range entries {
		e := &entries[i]
		for _, p := range perms {
			if !p.Regexp.MatchString(e.name) {
				continue
			}
			if p.Mode != nil && e.typ != tar.TypeSymlink {
				e.mode = unixMode(*p.Mode)
			}
			if p.UID != nil {
				e.uid = *p.UID
			}
			if p.GID != nil {
				e.gid = *p.GID
			}
		}
	}
}

// sortEntries puts the store dir and its ancestors first, then everything
// else in byte order of the path (which puts parents before children).
func sortEntries(entries []entry, storeDir string) {
	first := func(name string) bool {
		return name == storeDir || strings.HasPrefix(storeDir, name+"/")
	}
	slices.SortFunc(entries, func(a, b entry) int {
		fa, fb := first(a.name), first(b.name)
		if fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
}

// storeMode is the canonical mode of a store entry, as Nix itself leaves a
// store path: 0444 files, 0555 executables and directories. A NAR records
// only the executable bit, so anything else (a checkout's umask, a store tree
// copied by hand) would change the layer's bytes without changing its key.
// Setuid/setgid/sticky bits, which a real store never holds, are kept when a
// store tree has them (documented), and plan perms apply afterwards.
func storeMode(m fs.FileMode) int64 {
	special := unixMode(m) & 0o7000
	switch {
	case m&fs.ModeSymlink != 0:
		return 0o777
	case m.IsDir(), m&0o111 != 0:
		return 0o555 | special
	default:
		return 0o444 | special
	}
}

// unixMode is m's permission and special bits as a tar header mode.
func unixMode(m fs.FileMode) int64 { return int64(fsmode.ToUnix(m)) }
