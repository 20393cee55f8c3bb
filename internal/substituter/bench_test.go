package substituter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"io"
	"math/rand/v2"
	"testing"
)

var benchMiB = flag.Int("substituter.benchmib", 32, "NAR size in MiB for the decompression benchmarks")

// benchData is deterministic data that compresses about like store
// content: a mix of text, zero-heavy "binary" and incompressible blocks.
func benchData(n int) []byte {
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	out := make([]byte, 0, n)
	text := payload(4096)
	for len(out) < n {
		block := make([]byte, 4096)
		switch rng.IntN(4) {
		case 0, 1:
			copy(block, text[rng.IntN(64):])
		case 2:
			for i := range block {
				if rng.IntN(3) == 0 {
					block[i] = byte(rng.IntN(256))
				}
			}
		default:
			for i := range block {
				block[i] = byte(rng.Uint32())
			}
		}
		out = append(out, block...)
	}
	return out[:n]
}

// BenchmarkDecompressXZ compares the pure-Go xz decoder with piping
// through xz -d, including the SHA-256 that OpenNAR computes. Report with
// -benchtime=3x; MB/s is of decompressed NAR bytes.
func BenchmarkDecompressXZ(b *testing.B) {
	data := benchData(*benchMiB << 20)
	var comp []byte
	if bin := lookXZ(); bin != "" {
		comp = runFilter(b, []string{"xz", "-6", "-T1", "-c"}, data)
	} else {
		comp = compress(b, "xz", data)
	}
	b.Logf("%d MiB NAR, %d bytes xz (ratio %.2f)", *benchMiB, len(comp), float64(len(comp))/float64(len(data)))
	run := func(b *testing.B, xzCmd string) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			d, err := decompressor("xz", bytes.NewReader(comp), xzCmd)
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, d)
			if err != nil || n != int64(len(data)) {
				b.Fatalf("%d bytes, %v", n, err)
			}
			d.Close()
		}
	}
	b.Run("go-ulikunitz", func(b *testing.B) { run(b, "") })
	b.Run("xz-command", func(b *testing.B) {
		bin := lookXZ()
		if bin == "" {
			b.Skip("xz not installed")
		}
		run(b, bin)
	})
}

// BenchmarkDecompressZstd is the zstd reference point.
func BenchmarkDecompressZstd(b *testing.B) {
	data := benchData(*benchMiB << 20)
	comp := compress(b, "zstd", data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d, _ := decompressor("zstd", bytes.NewReader(comp), "")
		if n, err := io.Copy(sha256.New(), d); err != nil || n != int64(len(data)) {
			b.Fatal(n, err)
		}
		d.Close()
	}
}

// BenchmarkPathInfos resolves a 2000-path closure over HTTP.
func BenchmarkPathInfos(b *testing.B) {
	fc := newFakeCache(b, "none")
	var leaves []string
	for i := range 2000 {
		leaves = append(leaves, fc.add("leaf", []byte{byte(i), byte(i >> 8)}))
	}
	root := fc.add("root", nil, leaves...)
	u := fc.serve()
	for b.Loop() {
		cl, err := New(fc.config(u))
		if err != nil {
			b.Fatal(err)
		}
		if infos, err := cl.PathInfos(context.Background(), []string{root}); err != nil || len(infos) != 2001 {
			b.Fatal(len(infos), err)
		}
	}
}

func lookXZ() string {
	for _, p := range []string{"/usr/bin/xz", "/bin/xz"} {
		if fileExists(p) {
			return p
		}
	}
	return ""
}
