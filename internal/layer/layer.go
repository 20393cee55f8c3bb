// Package layer writes deterministic OCI image layers (tar + gzip) from Nix
// store paths and synthesized files. It is the only code in the project that
// writes tar or gzip.
//
// Tar layout (FormatVersion 1):
//   - entry names are relative, without a leading "/" ("nix/store/…"), like
//     docker and nix2container; directories end in "/";
//   - the first entries are the directories leading to the store directory
//     ("nix/", "nix/store/"), always present, 0755 root:root;
//   - all other entries follow in byte order of their full path, so every
//     parent directory comes before its children; missing parent
//     directories are synthesized as 0755 root:root;
//   - every entry has ModTime Unix 1, no atime/ctime, uid/gid 0 (unless a
//     File or Perm says otherwise), empty uname/gname, devmajor/minor 0;
//   - permission bits (incl. setuid/setgid/sticky) come from the store,
//     symlinks are kept as symlinks and never followed, hardlinks are
//     written as regular files with their full content; sockets, devices
//     and FIFOs fail the build with *UnsupportedFileError;
//   - headers are USTAR, with PAX records only where USTAR cannot express a
//     field (long or non-ASCII names, sizes ≥ 8 GiB).
//
// Compression is pgzip at a fixed Level and BlockSize; the block boundaries
// depend only on BlockSize, so the compressed bytes do not depend on the
// number of CPUs.
package layer

import (
	"fmt"
	"io/fs"
	"regexp"
)

// FormatVersion is the version of the tar layout written by Build. Bump it
// whenever the bytes produced for the same input change.
const FormatVersion = 1

// Level is the fixed gzip compression level.
const Level = 6

// BlockSize is the fixed pgzip block size. Together with Level it fully
// determines the compressed bytes.
const BlockSize = 1 << 20

// maxBlocks caps the number of pgzip blocks in flight so the memory use
// stays bounded (about 3 × BlockSize per block) on machines with many CPUs.
const maxBlocks = 16

// DefaultStoreDir is the store directory used when Spec.StoreDir is empty.
const DefaultStoreDir = "/nix/store"

// KeyParams describes everything besides the content that determines the
// bytes of a layer; it is part of every layer key.
func KeyParams() string {
	return fmt.Sprintf("tar-v%d;gzip=pgzip;level=%d;block=%d", FormatVersion, Level, BlockSize)
}

// File is a synthesized or root-fs entry.
type File struct {
	Path     string      // absolute, clean path in the image, e.g. "/etc/passwd"
	Mode     fs.FileMode // type (fs.ModeDir, fs.ModeSymlink or regular) and permission bits (see Perm.Mode)
	UID, GID int
	Linkname string // symlink target, kept verbatim
	Data     []byte // contents of a small regular file
	Source   string // OR: a host file whose contents are copied at build time
}

// Spec describes one layer.
type Spec struct {
	Name string
	// Paths are in-image store paths (e.g. /nix/store/<hash>-name). The
	// contents of path P are read from the host path StoreRoot+P.
	Paths []string
	// StoreRoot is the host prefix of the store; "" means "/".
	StoreRoot string
	// StoreDir is the store directory inside the image; "" means
	// DefaultStoreDir. Its directories are always the first tar entries.
	StoreDir string
	Files    []File // extra entries (root layer / nix db)
	Perms    []Perm // applied, in order, to every matching entry
}

// Perm overrides the permissions and/or ownership of every entry whose
// absolute in-image path (e.g. "/nix/store/…-app/bin/x", no trailing slash)
// matches Regexp. Mode replaces the permission bits; it may use either
// fs.FileMode bits (fs.ModeSetuid …) or Unix bits (04000, 02000, 01000) for
// setuid/setgid/sticky. Mode is not applied to symlinks.
type Perm struct {
	Regexp   *regexp.Regexp
	Mode     *fs.FileMode
	UID, GID *int
}

// Options tunes Build without changing its output.
type Options struct {
	// TempDir is where the compressed layer file is created; "" means
	// os.TempDir().
	TempDir string

	blocks    int               // pgzip blocks in flight; 0 = default (tests)
	testEntry func(name string) // called before each entry is written (tests)
}

// UnsupportedFileError reports a file type that cannot go into a layer
// (socket, device, FIFO, …).
type UnsupportedFileError struct {
	Path string // host path (or in-image path for synthesized files)
	Mode fs.FileMode
}

func (e *UnsupportedFileError) Error() string {
	return fmt.Sprintf("unsupported file type %s for %s (only regular files, directories and symlinks can go into a layer)", fileType(e.Mode), e.Path)
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeCharDevice != 0:
		return "char device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	default:
		return m.Type().String()
	}
}
