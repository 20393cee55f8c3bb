// Package layer writes deterministic OCI image layers (tar + gzip or zstd)
// from Nix store paths and synthesized files, and derives each layer's key.
// It is the only code in the project that writes tar, gzip or zstd, and Key
// is the only
// function that computes a layer key: from exactly the Spec that Build
// receives, so no key can be computed from anything the writer does not see.
//
// Tar layout (FormatVersion 2):
//   - entry names are relative, without a leading "/" ("nix/store/…"), like
//     docker and nix2container; directories end in "/";
//   - entries are in depth-first order with each directory's children
//     sorted by name byte-wise — the order of a NAR and of GNU tar's
//     --sort=name — so a store path streams straight from its NAR;
//   - the directories leading to the store directory ("nix/",
//     "nix/store/") are always present, and every missing parent
//     directory is synthesized, 0755 root:root;
//   - every entry has ModTime Unix 1, no atime/ctime, uid/gid 0 (unless a
//     File or Perm says otherwise), empty uname/gname, devmajor/minor 0;
//   - store entries have canonical modes: 0444 files, 0555 executables and
//     directories (all a NAR records), symlinks 0777 and never followed;
//     setuid/setgid/sticky bits of a store tree on disk are kept (a real
//     store never has them); hardlinks are written as regular files;
//     sockets, devices and FIFOs fail the build with *UnsupportedFileError;
//   - headers are USTAR, with PAX records only where USTAR cannot express a
//     field (long or non-ASCII names, sizes ≥ 8 GiB).
//
// Store contents come from a Source: DirSource reads a realised store on
// disk, NARSource reads NAR streams (a binary cache's) without realising
// them, and both give the same paths bit-identical layers. Whatever the
// Source, every store path is hashed as its NAR while it is written (one
// read of each byte) and checked against its StorePath.NarHash before
// Build returns: a store path changed after Nix registered it fails the
// build with *TamperedPathError, so a layer never holds bytes other than
// those its key (made from the NAR hashes) names.
//
// Compression (Format) is pgzip at a fixed level and block size — the
// block boundaries depend only on the block size — or zstd at a fixed
// level, the tar stream cut into blocks of a fixed size, each compressed
// as an independent zstd frame on its own core and the frames written in
// order (one zstd stream for every decoder). Either way the
// compressed bytes depend only on the tar stream and the Format, never on
// the number of CPUs or on how the stream was chunked into writes; the tar
// stream (and so the diffID) does not depend on the Format at all.
package layer

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// FormatVersion is the version of the tar layout written by Build. Bump it
// whenever the bytes produced for the same input change.
const FormatVersion = 2

// maxBlocks caps the number of pgzip blocks in flight so the memory use
// stays bounded (about 3 × block size per block) on machines with many CPUs.
const maxBlocks = 16

// DefaultStoreDir is the store directory used when Spec.StoreDir is empty.
const DefaultStoreDir = "/nix/store"

// Compression names a layer compression.
type Compression string

// Compressions Build can write.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	// ZstdChunked is zstd with every file's contents in frames of their
	// own and a table of contents, which containers/storage pulls
	// partially (see chunked.go).
	ZstdChunked Compression = "zstd:chunked"
)

// Compressions lists every Compression, the default first.
var Compressions = []Compression{Gzip, Zstd, ZstdChunked}

// ZstdWindow is the window the zstd encoder is given: its own default, and
// the most the zstd format recommends decoders be ready for. A frame never
// reaches back further than its own start, so frames of up to ZstdWindow
// bytes (ZstdBlockSize, zstd:chunked's chunks) need no more.
const ZstdWindow = 8 << 20

// Format is how a layer's tar stream is compressed. It is part of every
// key: the same content in another format is another layer.
//
// For Gzip, Level is the deflate level (1-9) and BlockSize the pgzip block
// size. For Zstd, Level is a zstd.EncoderLevel (1 fastest, 2 default —
// about zstd -3 —, 3 better, 4 best) and BlockSize the size of the tar
// stream blocks compressed as independent frames (64 KiB-64 MiB), all
// CPUs compressing at once.
type Format struct {
	Compression Compression
	Level       int
	BlockSize   int
}

// DefaultFormat is pgzip at level 6 with 1 MiB blocks.
var DefaultFormat = Format{Compression: Gzip, Level: 6, BlockSize: 1 << 20}

// ZstdBlockSize is the frame size of ZstdFormat: big enough that
// independent frames cost under 1 % of size against one stream, small
// enough that a 100 MB layer keeps every core busy.
const ZstdBlockSize = 4 << 20

// ZstdFormat is zstd at zstd.SpeedDefault in frames of ZstdBlockSize.
var ZstdFormat = Format{Compression: Zstd, Level: int(zstd.SpeedDefault), BlockSize: ZstdBlockSize}

// ZstdChunkedFormat is zstd:chunked at zstd.SpeedDefault.
var ZstdChunkedFormat = Format{Compression: ZstdChunked, Level: int(zstd.SpeedDefault)}

// FormatFor returns the default Format of a compression named c ("gzip" or
// "zstd"); "" means gzip.
func FormatFor(c string) (Format, error) {
	switch Compression(c) {
	case Gzip, "":
		return DefaultFormat, nil
	case Zstd:
		return ZstdFormat, nil
	case ZstdChunked:
		return ZstdChunkedFormat, nil
	}
	names := make([]string, len(Compressions))
	for i, c := range Compressions {
		names[i] = string(c)
	}
	last := len(names) - 1
	return Format{}, fmt.Errorf("unknown compression %q: want %s or %s", c, strings.Join(names[:last], ", "), names[last])
}

// String is the format as it enters the key:
// "tar-v2;gzip=pgzip;level=6;block=1048576" or
// "tar-v2;zstd=klauspost-frames;level=2;block=4194304" or
// "tar-v2;zstd:chunked=klauspost-frames;level=2;rollsum=16;max-chunk=4194304;toc=containers-storage-1.43".
// (Until zstd
// frames were compressed in parallel, zstd layers were one stream, keyed
// "…;zstd=klauspost;level=2;window=8388608": those keys no longer match,
// so such layers are rebuilt once.)
func (f Format) String() string {
	switch f.Compression {
	case Zstd:
		return fmt.Sprintf("tar-v%d;%s=klauspost-frames;level=%d;block=%d", FormatVersion, f.Compression, f.Level, f.BlockSize)
	case ZstdChunked:
		return fmt.Sprintf("tar-v%d;%s=klauspost-frames;level=%d;rollsum=%d;max-chunk=%d;toc=containers-storage-1.43",
			FormatVersion, f.Compression, f.Level, ChunkedRollsumBits, chunkedMaxChunk)
	}
	return fmt.Sprintf("tar-v%d;%s=pgzip;level=%d;block=%d", FormatVersion, f.Compression, f.Level, f.BlockSize)
}

// Validate reports a format Build cannot write.
func (f Format) Validate() error {
	switch f.Compression {
	case Gzip:
		switch {
		case f.Level < 1 || f.Level > 9:
			return fmt.Errorf("gzip level %d out of range 1-9", f.Level)
		case f.BlockSize < 64<<10 || f.BlockSize > 64<<20:
			return fmt.Errorf("block size %d out of range 64 KiB-64 MiB", f.BlockSize)
		}
	case Zstd:
		switch {
		case f.Level < int(zstd.SpeedFastest) || f.Level > int(zstd.SpeedBestCompression):
			return fmt.Errorf("zstd level %d out of range %d-%d", f.Level, zstd.SpeedFastest, zstd.SpeedBestCompression)
		case f.BlockSize < 64<<10 || f.BlockSize > 64<<20:
			return fmt.Errorf("block size %d out of range 64 KiB-64 MiB", f.BlockSize)
		}
	case ZstdChunked:
		switch {
		case f.Level < int(zstd.SpeedFastest) || f.Level > int(zstd.SpeedBestCompression):
			return fmt.Errorf("zstd level %d out of range %d-%d", f.Level, zstd.SpeedFastest, zstd.SpeedBestCompression)
		case f.BlockSize != 0:
			return fmt.Errorf("zstd:chunked has no block size (got %d, want 0): frames follow the files", f.BlockSize)
		}
	default:
		return fmt.Errorf("unsupported compression %q", f.Compression)
	}
	return nil
}

// MediaType is the OCI layer media type of a layer in this format:
// application/vnd.oci.image.layer.v1.tar+gzip or …tar+zstd (zstd and
// zstd:chunked: the latter is zstd to every reader, its table of contents
// announced by descriptor annotations).
func (f Format) MediaType() types.MediaType {
	if f.IsZstd() {
		return types.OCILayerZStd
	}
	return types.OCILayer
}

// IsZstd reports whether layers in f are zstd streams (zstd or
// zstd:chunked).
func (f Format) IsZstd() bool { return f.Compression == Zstd || f.Compression == ZstdChunked }

// StorePath is one store path of a layer, with what identifies its
// contents.
type StorePath struct {
	Path    string // in-image store path, <StoreDir>/<hash>-<name>
	NarHash string // any spelling Nix uses; the key uses the canonical one
	NarSize int64  // informational (progress, reports); not in the key
}

// File is a synthesized or root-fs entry.
type File struct {
	Path     string      // absolute, clean path in the image, e.g. "/etc/passwd"
	Mode     fs.FileMode // type (fs.ModeDir, fs.ModeSymlink or regular) and permission bits (see Perm.Mode)
	UID, GID int
	Linkname string // symlink target, kept verbatim
	Data     []byte // contents of a small regular file
	Source   string // OR: a host file whose contents are copied at build time
	// SHA256, when set with Source, is the hex SHA-256 the Source's
	// contents were checked to have (e.g. as part of their store path's
	// NAR hash): Key uses it instead of reading Source, and Build fails
	// with *ChangedFileError if the bytes it copies differ.
	SHA256 string
}

// ChangedFileError reports a File whose Source no longer has the contents
// it was checked to have (File.SHA256).
type ChangedFileError struct {
	Path      string // in-image path
	Source    string // host file
	Want, Got string // hex SHA-256
}

func (e *ChangedFileError) Error() string {
	return fmt.Sprintf("%s (from %s) changed after it was checked: its contents hash to sha256:%s, not sha256:%s", e.Path, e.Source, e.Got, e.Want)
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

// Spec is everything that shapes one layer's bytes, and nothing else: the
// layer contract shared by Key and Build (like nix2container's layer JSON,
// where perms travel with the paths).
type Spec struct {
	Name string // for messages only; not in the key
	// StoreDir is the store directory inside the image; "" means
	// DefaultStoreDir.
	StoreDir string
	Paths    []StorePath // store paths, each a direct child of StoreDir
	Files    []File      // extra entries (root layer, Nix database)
	Perms    []Perm      // applied, in order, to every matching entry
	Format   Format      // zero value: DefaultFormat
}

func (s Spec) format() Format {
	if s.Format == (Format{}) {
		return DefaultFormat
	}
	return s.Format
}

func (s Spec) storeDir() string {
	if s.StoreDir == "" {
		return DefaultStoreDir
	}
	return s.StoreDir
}

// Options tunes Build without changing its output.
type Options struct {
	// TempDir is where the compressed layer file is created; "" means
	// os.TempDir().
	TempDir string
	// OnEntry, when set, is called for every entry as it is written, with
	// its absolute in-image path, its mode as written (type and
	// permission bits, perms applied) and a symlink's target, so a caller
	// learns a layer's file names without reading its sources again.
	OnEntry func(path string, mode fs.FileMode, linkname string)
	// Writers, when set, lends gzip writers from one build to the next
	// (nil: a new writer per layer).
	Writers *Writers

	blocks    int               // pgzip blocks in flight; 0 = default (tests)
	noVerify  bool              // skip the NarHash check (benchmarks measuring its cost)
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
