package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// storePath returns /nix/store/<32 chars>-name; c picks the hash character
// so tests control the order of store paths.
func storePath(c byte, name string) string {
	return "/nix/store/" + strings.Repeat(string(c), 32) + "-" + name
}

// host returns the host path of an in-image path under root.
func host(root, p string) string { return filepath.Join(root, filepath.FromSlash(p)) }

func mkdir(t testing.TB, root, p string, mode os.FileMode) {
	t.Helper()
	h := host(root, p)
	if err := os.MkdirAll(h, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h, mode); err != nil {
		t.Fatal(err)
	}
}

func mkfile(t testing.TB, root, p, content string, mode os.FileMode) {
	t.Helper()
	h := host(root, p)
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h, mode); err != nil {
		t.Fatal(err)
	}
}

func mklink(t testing.TB, root, p, target string) {
	t.Helper()
	h := host(root, p)
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, h); err != nil {
		t.Fatal(err)
	}
}

type tarEntry struct {
	hdr     *tar.Header
	content string
}

// madeUpHash is the NAR hash sp gives every path.
var madeUpHash = "sha256:" + strings.Repeat("0", 52)

// sp is the store paths ps with made-up NAR hashes: build replaces them
// with the real ones of the tree it builds from; tests calling Build
// directly set Options.noVerify.
func sp(ps ...string) []StorePath {
	out := make([]StorePath, len(ps))
	for i, p := range ps {
		out[i] = StorePath{Path: p, NarHash: madeUpHash}
	}
	return out
}

// narHashOf is the NAR hash of the host tree at h, as Nix registers it
// (go-nix's NAR dumper, independent of the code under test).
func narHashOf(t testing.TB, h string) string {
	t.Helper()
	sum := sha256.New()
	if err := nar.DumpPath(sum, h); err != nil {
		t.Fatal(err)
	}
	return nixpath.FormatSHA256(sum.Sum(nil))
}

// registered returns spec with every made-up NAR hash replaced by the
// hash of the path's tree under root, so Build's NarHash check passes as
// it does on a store Nix registered.
func registered(t testing.TB, spec Spec, root string) Spec {
	t.Helper()
	spec.Paths = slices.Clone(spec.Paths)
	for i, p := range spec.Paths {
		if p.NarHash == madeUpHash {
			spec.Paths[i].NarHash = narHashOf(t, root+p.Path)
		}
	}
	return spec
}

// build runs Build over the store tree at root (in the default format
// unless spec sets one, with the store paths' real NAR hashes) and
// registers Close.
func build(t testing.TB, spec Spec, root string, opts Options) *Built {
	t.Helper()
	b, err := Build(context.Background(), registered(t, spec, root), DirSource{root}, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// readLayer re-hashes the layer independently (stdlib gzip, not the code
// under test; for zstd a decoder of its own, with the reference zstd tool
// in zstd_test.go), checks Digest, Size, DiffID, UncompressedSize and
// MediaType, and returns the tar entries.
func readLayer(t testing.TB, b *Built) []tarEntry {
	t.Helper()
	raw, err := os.ReadFile(b.Path())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	viaCompressed, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(raw, viaCompressed) {
		t.Fatalf("Compressed() differs from the file (err %v)", err)
	}
	sum := sha256.Sum256(raw)
	if d, _ := b.Digest(); d.Algorithm != "sha256" || d.Hex != hex.EncodeToString(sum[:]) {
		t.Errorf("Digest = %v, sha256 of file = %x", d, sum)
	}
	if s, _ := b.Size(); s != int64(len(raw)) {
		t.Errorf("Size = %d, file has %d bytes", s, len(raw))
	}
	var tarBytes []byte
	if b.Format().IsZstd() {
		tarBytes = unzstd(t, raw)
	} else {
		tarBytes = gunzip(t, raw)
	}
	dsum := sha256.Sum256(tarBytes)
	if d, _ := b.DiffID(); d.Hex != hex.EncodeToString(dsum[:]) {
		t.Errorf("DiffID = %v, sha256 of tar = %x", d, dsum)
	}
	if b.UncompressedSize() != int64(len(tarBytes)) {
		t.Errorf("UncompressedSize = %d, tar has %d bytes", b.UncompressedSize(), len(tarBytes))
	}
	want := "application/vnd.oci.image.layer.v1.tar+gzip"
	if b.Format().IsZstd() {
		want = "application/vnd.oci.image.layer.v1.tar+zstd"
	}
	if mt, _ := b.MediaType(); string(mt) != want {
		t.Errorf("MediaType = %q, want %q", mt, want)
	}

	ur, err := b.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	viaUncompressed, err := io.ReadAll(ur)
	ur.Close()
	if err != nil || !bytes.Equal(viaUncompressed, tarBytes) {
		t.Fatalf("Uncompressed() differs from the independently decompressed tar (err %v)", err)
	}

	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(tarBytes))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr: hdr, content: string(data)})
	}
	return out
}

// gunzip checks the gzip header (magic, MTIME 0) and decompresses with
// the standard library.
func gunzip(t testing.TB, raw []byte) []byte {
	t.Helper()
	if raw[0] != 0x1f || raw[1] != 0x8b || !bytes.Equal(raw[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header = % x, want magic and MTIME 0", raw[:10])
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decompressing: %v", err)
	}
	return out
}

// unzstd checks the zstd frame magic and decompresses in one call
// (DecodeAll, not the streaming reader Built.Uncompressed uses).
func unzstd(t testing.TB, raw []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		t.Errorf("zstd header = % x, want the frame magic", raw[:min(len(raw), 8)])
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(raw, nil)
	if err != nil {
		t.Fatalf("decompressing: %v", err)
	}
	return out
}

func names(es []tarEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.hdr.Name)
	}
	return out
}

func byName(t testing.TB, es []tarEntry, name string) tarEntry {
	t.Helper()
	for _, e := range es {
		if e.hdr.Name == name {
			return e
		}
	}
	t.Fatalf("no tar entry %q in %q", name, names(es))
	return tarEntry{}
}

func digestOf(t testing.TB, b *Built) string {
	t.Helper()
	d, err := b.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func dirEmpty(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		t.Errorf("temp dir %s not empty: %q", dir, n)
	}
}

// tarEntries lists the entry names of an uncompressed tar stream.
func tarEntries(t testing.TB, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name)
	}
}
