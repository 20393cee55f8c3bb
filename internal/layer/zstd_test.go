package layer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

func zstdSpec(spec Spec) Spec {
	spec.Format = ZstdFormat
	return spec
}

func TestZstdFormat(t *testing.T) {
	if got, want := ZstdFormat.String(), "tar-v2;zstd=klauspost-frames;level=2;block=4194304"; got != want {
		t.Errorf("ZstdFormat = %q, want %q", got, want)
	}
	if ZstdFormat.MediaType() != "application/vnd.oci.image.layer.v1.tar+zstd" || DefaultFormat.MediaType() != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Errorf("media types %q, %q", ZstdFormat.MediaType(), DefaultFormat.MediaType())
	}
	for l := 1; l <= 4; l++ {
		if err := (Format{Compression: Zstd, Level: l, BlockSize: ZstdBlockSize}).Validate(); err != nil {
			t.Errorf("zstd level %d refused: %v", l, err)
		}
	}
	for _, f := range []Format{{Compression: Zstd}, {Compression: Zstd, Level: 5, BlockSize: ZstdBlockSize}, {Compression: Zstd, Level: 2}, {Compression: Zstd, Level: 2, BlockSize: 1000}, {Compression: Zstd, Level: 2, BlockSize: 128 << 20}, {Compression: "ZSTD", Level: 2, BlockSize: ZstdBlockSize}} {
		if f.Validate() == nil {
			t.Errorf("format %+v accepted", f)
		}
	}
	for in, want := range map[string]Format{"": DefaultFormat, "gzip": DefaultFormat, "zstd": ZstdFormat} {
		if got, err := FormatFor(in); err != nil || got != want {
			t.Errorf("FormatFor(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"xz", "Zstd", "gzip ", "none"} {
		_, err := FormatFor(bad)
		if err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) || !strings.Contains(err.Error(), "want gzip, zstd or zstd:chunked") {
			t.Errorf("FormatFor(%q): error %v, want one naming the value and the choices", bad, err)
		}
	}
}

// Switching compression changes every key; so does every zstd level and
// frame size.
func TestZstdKeyDiffers(t *testing.T) {
	seen := map[string]string{}
	add := func(name string, s Spec) {
		k := mustKey(t, s)
		if prev, ok := seen[k]; ok {
			t.Errorf("%s and %s share key %s", name, prev, k)
		}
		seen[k] = name
	}
	for _, base := range []Spec{{}, keySpec(), {StoreDir: "/gnu/store"}} {
		name := base.storeDir() + strings.Repeat("+", len(base.Paths))
		add(name+" gzip", base)
		for l := 1; l <= 4; l++ {
			s := base
			s.Format = Format{Compression: Zstd, Level: l, BlockSize: ZstdBlockSize}
			add(name+" zstd level "+string(rune('0'+l)), s)
		}
		s := base
		s.Format = Format{Compression: Zstd, Level: 2, BlockSize: 1 << 20}
		add(name+" zstd 1 MiB frames", s)
	}
}

// The tar stream does not depend on the compression: same diffID and
// uncompressed size, same entries; the compressed bytes differ.
func TestZstdSameDiffIDAsGzip(t *testing.T) {
	root, a, b, c := makeStore(t)
	spec := Spec{Name: "x", Paths: sp(a, b, c), Files: []File{{Path: "/etc/os-release", Mode: 0o644, Data: []byte("ID=nix\n")}}}
	gz := build(t, spec, root, Options{TempDir: t.TempDir()})
	zs := build(t, zstdSpec(spec), root, Options{TempDir: t.TempDir()})
	ge, ze := readLayer(t, gz), readLayer(t, zs)
	gd, _ := gz.DiffID()
	zd, _ := zs.DiffID()
	if gd != zd || gz.UncompressedSize() != zs.UncompressedSize() {
		t.Errorf("gzip diffID %s (%d bytes), zstd %s (%d bytes)", gd, gz.UncompressedSize(), zd, zs.UncompressedSize())
	}
	if !slices.Equal(names(ge), names(ze)) {
		t.Errorf("entries differ:\ngzip %q\nzstd %q", names(ge), names(ze))
	}
	if digestOf(t, gz) == digestOf(t, zs) {
		t.Error("gzip and zstd layers have the same digest")
	}
	if !strings.HasSuffix(zs.Path(), ".tar.zst") || !strings.HasSuffix(gz.Path(), ".tar.gz") {
		t.Errorf("temp files %s, %s", gz.Path(), zs.Path())
	}
}

// The same tar bytes give the same zstd bytes whatever GOMAXPROCS and
// however many frames are compressed at once, on a package-like tree of
// ten frames: an encoder whose output follows the concurrency (the zstd
// streaming encoder's WithEncoderConcurrency(0) with WithConcurrentBlocks)
// fails this test.
func TestZstdDigestIndependentOfGOMAXPROCS(t *testing.T) {
	root := t.TempDir()
	paths := makeBenchStore(t, root, 5*ZstdWindow)
	spec := zstdSpec(Spec{Paths: sp(paths...)})
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	ref := build(t, spec, root, Options{TempDir: t.TempDir()})
	if ref.UncompressedSize() < 4*ZstdWindow {
		t.Fatalf("test tree too small (%d bytes) to span four zstd windows", ref.UncompressedSize())
	}
	readLayer(t, ref)
	want := digestOf(t, ref)
	for _, procs := range []int{2, 4, 8} {
		runtime.GOMAXPROCS(procs)
		if got := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir()})); got != want {
			t.Errorf("GOMAXPROCS %d: digest %s, GOMAXPROCS 1: %s", procs, got, want)
		}
	}
	// Nor is the number of frames compressed at once.
	for _, blocks := range []int{1, 3, 8} {
		if got := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir(), blocks: blocks})); got != want {
			t.Errorf("blocks %d: digest %s, want %s", blocks, got, want)
		}
	}
}

// The compressed bytes do not depend on how the stream is cut into
// writes (DirSource and NARSource write differently).
func TestZstdIndependentOfWriteSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 5<<20)
	for i := 0; i < len(data); {
		if rng.IntN(3) == 0 {
			n := min(len(data)-i, 1000+rng.IntN(50_000))
			for j := range n {
				data[i+j] = byte(rng.Uint32())
			}
			i += n
		} else {
			i += copy(data[i:], "/nix/store/00000000000000000000000000000000-lib-1.0/lib/libz.so.1 ")
		}
	}
	compress := func(chunk func() int) []byte {
		var buf bytes.Buffer
		w, err := ZstdFormat.compressor(&buf, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for rest := data; len(rest) > 0; {
			n := min(len(rest), chunk())
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	want := compress(func() int { return len(data) })
	for name, chunk := range map[string]func() int{
		"1 byte":  func() int { return 1 },
		"4093":    func() int { return 4093 },
		"256 KiB": func() int { return 256 << 10 },
		"random":  func() int { return 1 + rng.IntN(300_000) },
	} {
		if got := compress(chunk); !bytes.Equal(got, want) {
			t.Errorf("writes of %s: %d bytes, sha256 %x; one write: %d bytes, sha256 %x", name, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
		}
	}
	if back := unzstd(t, want); !bytes.Equal(back, data) {
		t.Error("round trip differs")
	}
}

// A NAR-streamed zstd layer is bit-identical to one read from disk.
func TestZstdNARSourceBitIdentical(t *testing.T) {
	root, paths := edgeStore(t)
	buildBoth(t, zstdSpec(Spec{Name: "edges", Paths: sp(paths...)}), root)
}

// The reference zstd tool reads our layers: it checks every frame's
// checksum and gives back exactly the tar stream of the diffID.
func TestZstdReferenceDecoder(t *testing.T) {
	tool := testutil.RequireTool(t, "zstd")
	root, p := makeMultiBlockStore(t)
	for l := 1; l <= 4; l++ {
		spec := Spec{Paths: sp(p), Format: Format{Compression: Zstd, Level: l, BlockSize: ZstdBlockSize}}
		b := build(t, spec, root, Options{TempDir: t.TempDir()})
		readLayer(t, b)
		out, err := exec.Command(tool, "-q", "-d", "-c", b.Path()).Output()
		if err != nil {
			t.Fatalf("level %d: zstd -d: %v", l, err)
		}
		sum := sha256.Sum256(out)
		if d, _ := b.DiffID(); d.Hex != hex.EncodeToString(sum[:]) {
			t.Errorf("level %d: zstd -d gives sha256 %x, diffID %s", l, sum, d)
		}
		info, err := exec.Command(tool, "-l", "-v", b.Path()).CombinedOutput()
		if err != nil || !strings.Contains(string(info), "XXH64") {
			t.Errorf("level %d: zstd -l: %v (want a content checksum)\n%s", l, err, info)
		}
	}
}

// Higher levels compress package-like data smaller (a sanity check that
// the level reaches the encoder).
func TestZstdLevels(t *testing.T) {
	root := t.TempDir()
	paths := makeBenchStore(t, root, 12<<20)
	var sizes []int64
	for l := 1; l <= 4; l++ {
		b := build(t, Spec{Paths: sp(paths...), Format: Format{Compression: Zstd, Level: l, BlockSize: ZstdBlockSize}}, root, Options{TempDir: t.TempDir()})
		s, _ := b.Size()
		sizes = append(sizes, s)
	}
	if !(sizes[0] > sizes[1] && sizes[1] > sizes[2] && sizes[2] > sizes[3]) {
		t.Errorf("sizes by level 1-4: %v, want strictly decreasing", sizes)
	}
}

// TestFormatDigestGolden pins the compressed bytes of a small layer in
// each format: an encoder upgrade that changes them shows up here (a key
// would then stand for other bytes; bump FormatVersion or accept it
// deliberately with -update).
func TestFormatDigestGolden(t *testing.T) {
	root, a, b, c := makeStore(t)
	var sb strings.Builder
	for _, f := range []Format{DefaultFormat, ZstdFormat, ZstdChunkedFormat, {Compression: Zstd, Level: 1, BlockSize: ZstdBlockSize}, {Compression: Zstd, Level: 4, BlockSize: ZstdBlockSize}} {
		l := build(t, Spec{Paths: sp(a, b, c), Format: f}, root, Options{TempDir: t.TempDir()})
		sb.WriteString(f.String() + " " + digestOf(t, l) + "\n")
	}
	const file = "testdata/digests.golden"
	if *update {
		if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if sb.String() != string(want) {
		t.Errorf("layer digests differ from %s; if intended, run with -update:\n%s", file, sb.String())
	}
}

// A zstd layer is a sequence of independent frames, one per BlockSize of
// tar stream, as the reference tool counts them, and decodes to the
// diffID's stream.
func TestZstdFramesPerBlock(t *testing.T) {
	tool := testutil.RequireTool(t, "zstd")
	root, p := makeMultiBlockStore(t)
	for _, bs := range []int{64 << 10, 1 << 20} {
		b := build(t, Spec{Paths: sp(p), Format: Format{Compression: Zstd, Level: 2, BlockSize: bs}}, root, Options{TempDir: t.TempDir()})
		readLayer(t, b)
		info, err := exec.Command(tool, "-l", "-v", b.Path()).CombinedOutput()
		if err != nil {
			t.Fatalf("zstd -l: %v\n%s", err, info)
		}
		want := (b.UncompressedSize() + int64(bs) - 1) / int64(bs)
		if !strings.Contains(string(info), fmt.Sprintf("# Zstandard Frames: %d\n", want)) {
			t.Errorf("block %d, %d tar bytes: want %d frames, zstd -l says:\n%s", bs, b.UncompressedSize(), want, info)
		}
	}
}
