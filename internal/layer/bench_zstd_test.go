package layer

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// benchFormats are the formats BenchmarkBuildFormat compares.
var benchFormats = []struct {
	name string
	f    Format
}{
	{"gzip-6", DefaultFormat},
	{"zstd-1", Format{Compression: Zstd, Level: 1}},
	{"zstd-2", ZstdFormat},
	{"zstd-3", Format{Compression: Zstd, Level: 3}},
	{"zstd-4", Format{Compression: Zstd, Level: 4}},
}

// realBenchTree copies a real software tree (NLA_BENCH_TREE, default the
// Go toolchain: binaries, archives and sources, as bench.sh's "framework"
// package) into a store path under root, or returns "" when there is none.
func realBenchTree(b *testing.B, root string) string {
	b.Helper()
	src := os.Getenv("NLA_BENCH_TREE")
	if src == "" {
		src = runtime.GOROOT()
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return ""
	}
	p := "/nix/store/" + fmt.Sprintf("%032d", 7) + "-tree"
	dst := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		b.Fatalf("copying %s: %v\n%s", src, err, out)
	}
	return p
}

// BenchmarkBuildFormat compares build time (MB/s of tar stream) and
// compressed size ("ratio" = compressed / tar bytes) of gzip and the zstd
// levels, over the synthetic ~200 MB package tree of BenchmarkBuild and
// over a real tree (the Go toolchain, ≈ what bench.sh calls a framework).
// pgzip uses every CPU; the zstd encoder runs on one.
//
//	go test -run X -bench BuildFormat -benchtime 3x ./internal/layer
func BenchmarkBuildFormat(b *testing.B) {
	synth := b.TempDir()
	trees := []struct {
		name, root string
		paths      []string
	}{{"synthetic", synth, makeBenchStore(b, synth, 200<<20)}}
	real := b.TempDir()
	if p := realBenchTree(b, real); p != "" {
		trees = append(trees, struct {
			name, root string
			paths      []string
		}{"go-toolchain", real, []string{p}})
	}
	tmp := b.TempDir()
	for _, tr := range trees {
		for _, bf := range benchFormats {
			b.Run(tr.name+"/"+bf.name, func(b *testing.B) {
				spec := registered(b, Spec{Paths: sp(tr.paths...), Format: bf.f}, tr.root)
				for b.Loop() {
					l, err := Build(context.Background(), spec, DirSource{tr.root}, Options{TempDir: tmp})
					if err != nil {
						b.Fatal(err)
					}
					size, _ := l.Size()
					b.SetBytes(l.UncompressedSize())
					b.ReportMetric(float64(size)/float64(l.UncompressedSize()), "ratio")
					b.ReportMetric(float64(size)/1e6, "MB")
					l.Close()
				}
			})
		}
	}
}

// BenchmarkUncompressFormat measures how fast a puller decompresses a
// layer (MB/s of tar stream) in gzip and zstd (level 2), over the real
// tree of BenchmarkBuildFormat (the synthetic one when there is none).
func BenchmarkUncompressFormat(b *testing.B) {
	root := b.TempDir()
	paths := []string{realBenchTree(b, root)}
	if paths[0] == "" {
		paths = makeBenchStore(b, root, 200<<20)
	}
	for _, bf := range []struct {
		name string
		f    Format
	}{{"gzip-6", DefaultFormat}, {"zstd-2", ZstdFormat}} {
		b.Run(bf.name, func(b *testing.B) {
			l, err := Build(context.Background(), registered(b, Spec{Paths: sp(paths...), Format: bf.f}, root), DirSource{root}, Options{TempDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(l.UncompressedSize())
			for b.Loop() {
				rc, err := l.Uncompressed()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
