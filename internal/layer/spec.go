package layer

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

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

// validate checks the spec and returns its store paths sorted and without
// duplicates. It does no I/O.
func (s Spec) validate() ([]StorePath, error) {
	if err := s.format().Validate(); err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	storeDir := s.storeDir()
	if err := checkImagePath(storeDir); err != nil {
		return nil, fmt.Errorf("store dir: %w", err)
	}
	for i, p := range s.Perms {
		if p.Regexp == nil {
			return nil, fmt.Errorf("perms[%d]: missing regexp", i)
		}
	}
	paths, err := sortedPaths(s.Paths, storeDir)
	if err != nil {
		return nil, err
	}
	if err := checkFiles(s.Files, storeDir, paths); err != nil {
		return nil, err
	}
	return paths, nil
}

func sortedPaths(in []StorePath, storeDir string) ([]StorePath, error) {
	paths := slices.Clone(in)
	slices.SortFunc(paths, func(a, b StorePath) int { return strings.Compare(a.Path, b.Path) })
	paths = slices.CompactFunc(paths, func(a, b StorePath) bool { return a.Path == b.Path })
	for i, p := range paths {
		if err := checkImagePath(p.Path); err != nil {
			return nil, fmt.Errorf("store path: %w", err)
		}
		if path.Dir(p.Path) != storeDir {
			return nil, fmt.Errorf("store path %s is not directly inside the store directory %s", p.Path, storeDir)
		}
		if i > 0 && paths[i-1].Path == p.Path && paths[i-1].NarHash != p.NarHash {
			return nil, fmt.Errorf("store path %s listed twice with different NAR hashes", p.Path)
		}
	}
	return paths, nil
}

// checkFiles validates the synthesized entries. Nothing may lie inside the
// store directory: store contents come only from store paths (the store
// directory itself may be given, to set its mode and owner).
func checkFiles(files []File, storeDir string, paths []StorePath) error {
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
		if strings.HasPrefix(f.Path, storeDir+"/") {
			owner := "the store directory " + storeDir
			if sp, ok := storePathOf(f.Path, storeDir, paths); ok {
				owner = "store path " + sp
			}
			return fmt.Errorf("%s duplicates an entry of %s: store contents come only from store paths", where, owner)
		}
		if f.UID < 0 || f.GID < 0 {
			return fmt.Errorf("%s: negative uid/gid %d/%d", where, f.UID, f.GID)
		}
		if err := checkFileKind(f, where); err != nil {
			return err
		}
	}
	return nil
}

func storePathOf(p, storeDir string, paths []StorePath) (string, bool) {
	rest := strings.TrimPrefix(p, storeDir+"/")
	top := storeDir + "/" + strings.SplitN(rest, "/", 2)[0]
	_, ok := slices.BinarySearchFunc(paths, top, func(s StorePath, t string) int { return strings.Compare(s.Path, t) })
	return top, ok
}

func checkFileKind(f File, where string) error {
	switch m := f.Mode; {
	case m.IsRegular():
		switch {
		case f.Linkname != "":
			return fmt.Errorf("%s: linkname set on a regular file", where)
		case f.Data != nil && f.Source != "":
			return fmt.Errorf("%s: both data and source set", where)
		case f.SHA256 != "" && (f.Source == "" || !isHexSHA256(f.SHA256)):
			return fmt.Errorf("%s: sha256 %q needs a source and 64 lower-case hex digits", where, f.SHA256)
		}
	case f.SHA256 != "":
		return fmt.Errorf("%s: sha256 set on a %s", where, fileKind(m))
	case m.IsDir():
		if f.Data != nil || f.Source != "" || f.Linkname != "" {
			return fmt.Errorf("%s: directory with data, source or linkname", where)
		}
	case m&fs.ModeSymlink != 0:
		if f.Linkname == "" {
			return fmt.Errorf("%s: symlink without linkname", where)
		}
		if f.Data != nil || f.Source != "" {
			return fmt.Errorf("%s: symlink with data or source", where)
		}
	default:
		return &UnsupportedFileError{Path: f.Path, Mode: m}
	}
	return nil
}

// sourceSize stats a File's Source: it must be a regular file.
func sourceSize(f File, where string) (int64, error) {
	info, err := os.Stat(f.Source)
	if err != nil {
		return 0, fmt.Errorf("%s: source: %w", where, err)
	}
	if !info.Mode().IsRegular() {
		return 0, &UnsupportedFileError{Path: f.Source, Mode: info.Mode()}
	}
	return info.Size(), nil
}

// isHexSHA256 reports whether s is 64 lower-case hex digits.
func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
