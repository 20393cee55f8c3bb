package layer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/org/nix-layer-action/internal/fsmode"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// KeyFormat names the version of the key encoding itself. It is hashed into
// every key, so changing the encoding (and bumping this) changes all keys.
// v2: keys cover the whole Spec (store dir, perms in order, files by
// content) and NAR hashes in their canonical spelling.
const KeyFormat = "nix-layer-action/layer-key/v2"

// Key returns the layer key of s: "sha256:<hex>" over a canonical encoding
// of everything in the Spec that shapes the layer's bytes — the key
// format, s.Format, the store directory, the store paths (sorted, each with
// its NAR hash in the canonical "sha256:<nix-base32>" spelling, so the key
// does not depend on which Nix version or cache described a path), the
// perms in order, and the files sorted by path with their type, mode,
// owner, link target and the SHA-256 of their contents (a Source file is
// read). Name and NarSize do not enter it.
//
// Every field is a netstring ("<len>:<bytes>,") and every list is preceded
// by its count, so the encoding is unambiguous: no two different specs
// encode the same.
func Key(s Spec) (string, error) {
	paths, err := s.validate()
	if err != nil {
		return "", fmt.Errorf("layer %q: %w", s.Name, err)
	}
	k := &keyWriter{h: sha256.New()}
	k.field(KeyFormat)
	k.field("format")
	k.field(s.format().String())
	k.field("store-dir")
	k.field(s.storeDir())
	k.field("paths")
	k.count(len(paths))
	for _, p := range paths {
		h, err := nixpath.NormalizeHash(p.NarHash)
		if err != nil {
			return "", fmt.Errorf("layer %q: store path %s: %w", s.Name, p.Path, err)
		}
		k.field(p.Path)
		k.field(h)
	}
	k.field("perms")
	k.count(len(s.Perms))
	for _, p := range s.Perms {
		k.perm(p)
	}
	if err := k.files(s.Files); err != nil {
		return "", fmt.Errorf("layer %q: %w", s.Name, err)
	}
	return "sha256:" + hex.EncodeToString(k.h.Sum(nil)), nil
}

type keyWriter struct {
	h   hash.Hash
	buf []byte
}

func (k *keyWriter) field(s string) {
	k.buf = strconv.AppendInt(k.buf[:0], int64(len(s)), 10)
	k.buf = append(k.buf, ':')
	k.buf = append(k.buf, s...)
	k.buf = append(k.buf, ',')
	k.h.Write(k.buf)
}

func (k *keyWriter) count(n int) { k.field(strconv.Itoa(n)) }

func optInt(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

func (k *keyWriter) perm(p Perm) {
	k.field(p.Regexp.String())
	mode := "-"
	if p.Mode != nil {
		mode = strconv.FormatUint(uint64(fsmode.ToUnix(*p.Mode)), 8)
	}
	k.field(mode)
	k.field(optInt(p.UID))
	k.field(optInt(p.GID))
}

func (k *keyWriter) files(files []File) error {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	k.field("files")
	k.count(len(sorted))
	for _, f := range sorted {
		k.field(f.Path)
		k.field(fileKind(f.Mode) + strconv.FormatUint(uint64(fsmode.ToUnix(f.Mode)), 8))
		k.field(strconv.Itoa(f.UID))
		k.field(strconv.Itoa(f.GID))
		k.field(f.Linkname)
		sum := "-"
		if f.Mode.IsRegular() {
			s, err := contentSHA256(f)
			if err != nil {
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
			sum = s
		}
		k.field(sum)
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "d"
	case m&fs.ModeSymlink != 0:
		return "l"
	default:
		return "f"
	}
}

// contentSHA256 hashes a regular File's contents (its Data, or its Source
// file read from disk, or the SHA256 Build holds its Source to).
func contentSHA256(f File) (string, error) {
	if f.SHA256 != "" {
		return f.SHA256, nil // Build fails if Source's bytes differ
	}
	h := sha256.New()
	if f.Source == "" {
		h.Write(f.Data)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	r, err := os.Open(f.Source)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
