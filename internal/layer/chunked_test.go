package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/org/nix-layer-action/internal/testutil"
)

func chunkedSpec(spec Spec) Spec {
	spec.Format = ZstdChunkedFormat
	return spec
}

// chunkedStore is a store with what zstd:chunked treats apart: small and
// empty files, symlinks, directories, a file of many chunks, the same
// contents shifted by two bytes, and a long run of one byte (no cut by
// contents: cut every chunkedMaxChunk).
func chunkedStore(t *testing.T) (root string, paths []string) {
	root, paths = narMakeStore(t)
	big := storePath('7', "big")
	rng := rand.New(rand.NewPCG(7, 8))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	mkfile(t, root, big+"/lib/libbig.so", string(data), 0o444)
	mkfile(t, root, big+"/lib/libbig-shifted.so", "xx"+string(data), 0o444)
	mkfile(t, root, big+"/share/zeros", strings.Repeat("\x00", 9<<20+5), 0o444)
	mkfile(t, root, big+"/share/empty", "", 0o444)
	return root, append(paths, big)
}

// readTOC reads a zstd:chunked layer's table of contents the way
// containers/storage 1.43 does: from the position annotation, checked
// against the checksum annotation; it also checks the footer says the
// same.
func readTOC(t testing.TB, b *Built) ([]byte, toc) {
	t.Helper()
	raw, err := os.ReadFile(b.Path())
	if err != nil {
		t.Fatal(err)
	}
	ann := b.Annotations()
	if len(ann) != 2 {
		t.Fatalf("annotations %v, want the two zstd:chunked ones", ann)
	}
	var off, clen, ulen, typ uint64
	if _, err := fmt.Sscanf(ann[ChunkedManifestPosition], "%d:%d:%d:%d", &off, &clen, &ulen, &typ); err != nil || typ != 1 {
		t.Fatalf("position %q: %v", ann[ChunkedManifestPosition], err)
	}
	footer := raw[len(raw)-chunkedFooter:]
	if !bytes.Equal(raw[len(raw)-chunkedFooter-8:len(raw)-chunkedFooter-4], skippableHead) || !bytes.Equal(footer[32:], []byte("GnUlInUx")) {
		t.Fatalf("no footer frame at the end")
	}
	if binary.LittleEndian.Uint64(footer) != off || binary.LittleEndian.Uint64(footer[8:]) != clen ||
		binary.LittleEndian.Uint64(footer[16:]) != ulen || binary.LittleEndian.Uint64(footer[24:]) != 1 {
		t.Errorf("footer %x disagrees with position %s", footer, ann[ChunkedManifestPosition])
	}
	if !bytes.Equal(raw[off-8:off-4], skippableHead) || binary.LittleEndian.Uint32(raw[off-4:]) != uint32(clen) {
		t.Errorf("TOC at %d is not in a skippable frame of its size", off)
	}
	compressed := raw[off : off+clen]
	sum := sha256.Sum256(compressed)
	if ann[ChunkedManifestChecksum] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("checksum annotation %s, TOC sha256 %x", ann[ChunkedManifestChecksum], sum)
	}
	d, _ := zstd.NewReader(nil)
	defer d.Close()
	manifest, err := d.DecodeAll(compressed, nil)
	if err != nil || uint64(len(manifest)) != ulen {
		t.Fatalf("TOC: %v (%d bytes, want %d)", err, len(manifest), ulen)
	}
	var tc toc
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tc); err != nil || tc.Version != 1 {
		t.Fatalf("TOC JSON: %v (version %d)", err, tc.Version)
	}
	return raw, tc
}

// checkChunks does what a partial pull does with every regular file:
// merges its "chunk" entries (containers/storage's mergeTocEntries: a
// chunk's compressed bytes end where the next one's begin, the last where
// the file's entry ends), decompresses each chunk's byte range alone, and
// checks the bytes against the tar's file and the digests. It returns
// the chunk digests of each file.
func checkChunks(t testing.TB, b *Built) map[string][]string {
	t.Helper()
	raw, tc := readTOC(t, b)
	files := map[string]string{}
	var order []string
	for _, e := range readLayer(t, b) {
		files[e.hdr.Name] = e.content
		order = append(order, e.hdr.Name)
	}
	d, _ := zstd.NewReader(nil)
	defer d.Close()
	out := map[string][]string{}
	var names []string
	for i := 0; i < len(tc.Entries); i++ {
		e := tc.Entries[i]
		if e.Type == "chunk" {
			t.Fatalf("entry %d: chunk without a regular file", i)
		}
		names = append(names, e.Name)
		if e.ModTime == nil || e.ModTime.Unix() != 1 || e.ModTime.Location().String() != "UTC" {
			t.Errorf("%s: modtime %v", e.Name, e.ModTime)
		}
		if e.Type != "reg" || e.Size == 0 {
			if e.Offset != 0 || e.EndOffset != 0 || e.Digest != "" {
				t.Errorf("%s (%s, %d bytes) has offsets or a digest", e.Name, e.Type, e.Size)
			}
			continue
		}
		chunks := []tocEntry{e}
		for i+1 < len(tc.Entries) && tc.Entries[i+1].Type == "chunk" {
			i++
			chunks = append(chunks, tc.Entries[i])
		}
		content := files[e.Name]
		if fs := sha256.Sum256([]byte(content)); e.Digest != "sha256:"+hex.EncodeToString(fs[:]) || int64(len(content)) != e.Size {
			t.Errorf("%s: digest %s size %d, tar has %x (%d bytes)", e.Name, e.Digest, e.Size, fs, len(content))
		}
		var got []byte
		for j, c := range chunks {
			end := e.EndOffset
			if j+1 < len(chunks) {
				end = chunks[j+1].Offset
			}
			size := c.ChunkSize
			if len(chunks) == 1 {
				size = e.Size
				if c.ChunkSize != 0 || c.ChunkDigest != "" {
					t.Errorf("%s: one chunk with chunk fields %d %s", e.Name, c.ChunkSize, c.ChunkDigest)
				}
			}
			if c.Offset <= 0 || end <= c.Offset || end > int64(len(raw)) {
				t.Fatalf("%s chunk %d: range %d-%d", e.Name, j, c.Offset, end)
			}
			part, err := d.DecodeAll(raw[c.Offset:end], nil)
			if err != nil || int64(len(part)) != size || c.ChunkOffset != int64(len(got)) {
				t.Fatalf("%s chunk %d (%d-%d): %v, %d bytes, want %d at %d (chunkOffset %d)", e.Name, j, c.Offset, end, err, len(part), size, len(got), c.ChunkOffset)
			}
			cs := sha256.Sum256(part)
			digest := "sha256:" + hex.EncodeToString(cs[:])
			if len(chunks) > 1 && c.ChunkDigest != digest {
				t.Errorf("%s chunk %d: digest %s, bytes %s", e.Name, j, c.ChunkDigest, digest)
			}
			out[e.Name] = append(out[e.Name], digest)
			got = append(got, part...)
		}
		if string(got) != content {
			t.Errorf("%s: chunks give %d bytes unlike the tar's %d", e.Name, len(got), len(content))
		}
	}
	if strings.Join(names, "\n") != strings.Join(order, "\n") {
		t.Errorf("TOC entries\n%s\ntar entries\n%s", strings.Join(names, "\n"), strings.Join(order, "\n"))
	}
	return out
}

func TestChunkedFormat(t *testing.T) {
	if got, want := ZstdChunkedFormat.String(), "tar-v2;zstd:chunked=klauspost-frames;level=2;rollsum=16;max-chunk=4194304;toc=containers-storage-1.43"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if f, err := FormatFor("zstd:chunked"); err != nil || f != ZstdChunkedFormat {
		t.Errorf("FormatFor: %+v, %v", f, err)
	}
	if ZstdChunkedFormat.MediaType() != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Errorf("media type %s", ZstdChunkedFormat.MediaType())
	}
	for _, f := range []Format{{Compression: ZstdChunked}, {Compression: ZstdChunked, Level: 2, BlockSize: 1 << 20}} {
		if f.Validate() == nil {
			t.Errorf("%+v accepted", f)
		}
	}
	s := keySpec()
	k1 := mustKey(t, s)
	s.Format = ZstdFormat
	k2 := mustKey(t, s)
	s.Format = ZstdChunkedFormat
	if k3 := mustKey(t, s); k3 == k1 || k3 == k2 {
		t.Error("zstd:chunked shares a key with gzip or zstd")
	}
}

// Every regular file's contents are frames of their own, found by the
// table of contents; the table lists every entry in tar order.
func TestChunkedTOC(t *testing.T) {
	root, paths := chunkedStore(t)
	b := build(t, chunkedSpec(Spec{Paths: sp(paths...)}), root, Options{TempDir: t.TempDir()})
	chunks := checkChunks(t, b)
	big := strings.TrimPrefix(paths[3], "/") + "/"
	if n := len(chunks[big+"lib/libbig.so"]); n < 4 {
		t.Errorf("1 MiB of random bytes in %d chunks, want ~16", n)
	}
	if n := len(chunks[big+"share/zeros"]); n != 3 {
		t.Errorf("9 MiB of zeros in %d chunks, want 3 (cut every %d bytes)", n, chunkedMaxChunk)
	}
	// Cuts follow the contents: two bytes more in front change the first
	// chunk only.
	a, s := chunks[big+"lib/libbig.so"], chunks[big+"lib/libbig-shifted.so"]
	if len(a) != len(s) || strings.Join(a[1:], ",") != strings.Join(s[1:], ",") || a[0] == s[0] {
		t.Errorf("shifted file's chunks:\n%v\nunshifted:\n%v\nwant all but the first equal", s, a)
	}
	gz := build(t, Spec{Paths: sp(paths...)}, root, Options{TempDir: t.TempDir()})
	if gd, _ := gz.DiffID(); gd != mustDiffID(t, b) {
		t.Errorf("zstd:chunked diffID differs from gzip's: the tar stream must not depend on the format")
	}
	if gz.Annotations() != nil {
		t.Errorf("gzip layer has annotations %v", gz.Annotations())
	}
}

func mustDiffID(t testing.TB, b *Built) any {
	d, _ := b.DiffID()
	return d
}

// Same bytes whatever GOMAXPROCS or the number of frames compressed at
// once, and from a NAR stream as from disk.
func TestChunkedDeterministic(t *testing.T) {
	root, paths := chunkedStore(t)
	spec := chunkedSpec(Spec{Paths: sp(paths...)})
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	want := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir()}))
	for _, procs := range []int{2, 8} {
		runtime.GOMAXPROCS(procs)
		for _, blocks := range []int{0, 1, 5} {
			if got := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir(), blocks: blocks})); got != want {
				t.Errorf("GOMAXPROCS %d blocks %d: %s, want %s", procs, blocks, got, want)
			}
		}
	}
	buildBoth(t, spec, root)
	eroot, epaths := edgeStore(t)
	if err := os.Remove(host(eroot, epaths[0]+"/names/\xff\xfe")); err != nil {
		t.Fatal(err)
	}
	buildBoth(t, chunkedSpec(Spec{Name: "edges", Paths: sp(epaths...)}), eroot)
}

// A name that is not UTF-8 cannot be written into the JSON table of
// contents (it would come out as U+FFFD): the build fails naming it, and
// leaves no file behind.
func TestChunkedRefusesNonUTF8Names(t *testing.T) {
	root, paths := edgeStore(t)
	tmp := t.TempDir()
	_, err := Build(context.Background(), chunkedSpec(Spec{Name: "edges", Paths: sp(paths...)}), DirSource{root}, Options{TempDir: tmp})
	if err == nil || !strings.Contains(err.Error(), `names/\xff\xfe": a name that is not UTF-8`) {
		t.Fatalf("err = %v", err)
	}
	dirEmpty(t, tmp)
}

// refCuts are the chunk sizes containers/storage 1.43's own rollsum
// (compressor.RollSum, OnSplitWithBits(RollsumBits), one per file) cuts
// 2 MiB of rand.NewPCG(21, 21) bytes into (the last, uncut piece not
// listed); computed with that package.
var refCuts = []int64{12788, 44667, 87917, 78002, 25307, 21739, 81410, 31411, 70960, 47924, 35948, 2108, 67993, 2101, 43042, 11247, 23891, 54845, 63962, 16103, 53668, 28620, 113798, 189489, 13586, 12711, 28942, 32920, 32339, 43229, 2181, 38505, 222643, 31167, 165305, 10894, 27061, 31200, 21148, 46376, 34793, 58064}

// Files are cut where containers/storage cuts them, so that chunks match
// those of layers it compressed itself.
func TestChunkedCutsAsContainersStorage(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	data := make([]byte, 2<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	root := t.TempDir()
	p := storePath('8', "cuts")
	mkfile(t, root, p+"/data", string(data), 0o444)
	b := build(t, chunkedSpec(Spec{Paths: sp(p)}), root, Options{TempDir: t.TempDir()})
	_, tc := readTOC(t, b)
	var got []int64
	for _, e := range tc.Entries {
		if e.ChunkSize > 0 {
			got = append(got, e.ChunkSize)
		}
	}
	if len(got) != len(refCuts)+1 || fmt.Sprint(got[:len(refCuts)]) != fmt.Sprint(refCuts) {
		t.Errorf("chunk sizes\n%v\nwant\n%v and the rest", got, refCuts)
	}
}

// The reference zstd tool reads a zstd:chunked layer as plain zstd,
// skipping the table of contents and footer.
func TestChunkedReferenceDecoder(t *testing.T) {
	tool := testutil.RequireTool(t, "zstd")
	root, paths := chunkedStore(t)
	b := build(t, chunkedSpec(Spec{Paths: sp(paths...)}), root, Options{TempDir: t.TempDir()})
	out, err := exec.Command(tool, "-q", "-d", "-c", b.Path()).Output()
	if err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	sum := sha256.Sum256(out)
	if d, _ := b.DiffID(); d.Hex != hex.EncodeToString(sum[:]) {
		t.Errorf("zstd -d gives sha256 %x, diffID %s", sum, d)
	}
}
