package layer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// makeBenchStore writes a deterministic ~200 MB store tree of mixed
// compressible (text-like) and incompressible (random) files under root.
func makeBenchStore(b testing.TB, root string, total int64) []string {
	b.Helper()
	rng := rand.New(rand.NewPCG(42, 7))
	chacha := rand.NewChaCha8([32]byte{1, 2, 3})
	words := []string{"nix ", "store ", "layer ", "gzip\n", "deterministic ", "tar ", "/nix/store/", "lib", ".so.6 ", "\x00\x01"}
	var paths []string
	var written int64
	for pkg := 0; written < total; pkg++ {
		p := fmt.Sprintf("/nix/store/%032d-pkg-%d", pkg, pkg)
		paths = append(paths, p)
		for f := 0; f < 40 && written < total; f++ {
			var size int
			switch rng.IntN(10) {
			case 0: // a few big files
				size = 1<<20 + rng.IntN(8<<20)
			default: // many small ones
				size = rng.IntN(64 << 10)
			}
			buf := make([]byte, size)
			if rng.IntN(3) == 0 {
				chacha.Read(buf) // incompressible
			} else {
				for i := 0; i < size; {
					i += copy(buf[i:], words[rng.IntN(len(words))])
				}
			}
			h := filepath.Join(root, p, fmt.Sprintf("d%d", f%4), fmt.Sprintf("f%d", f))
			if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(h, buf, 0o644); err != nil {
				b.Fatal(err)
			}
			written += int64(size)
		}
	}
	return paths
}

// BenchmarkBuild measures layer throughput (MB/s of file content) over a
// ~200 MB tree. Compare with: tar -C $ROOT -cf - nix | pigz -6 -b 1024 -p $(nproc) >/dev/null
func BenchmarkBuild(b *testing.B) {
	root := b.TempDir()
	const total = 200 << 20
	paths := makeBenchStore(b, root, total)
	tmp := b.TempDir()
	spec := registered(b, Spec{Paths: sp(paths...), Format: DefaultFormat}, root)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		l, err := Build(context.Background(), spec, DirSource{root}, Options{TempDir: tmp})
		if err != nil {
			b.Fatal(err)
		}
		size, _ := l.Size()
		b.ReportMetric(float64(size)/float64(l.UncompressedSize()), "ratio")
		l.Close()
	}
}
