package layer

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// benchFormats are the formats BenchmarkBuildFormat compares.
var benchFormats = []struct {
	name string
	f    Format
}{
	{"gzip-6", DefaultFormat},
	{"zstd-1", Format{Compression: Zstd, Level: 1, BlockSize: ZstdBlockSize}},
	{"zstd-2", ZstdFormat},
	{"zstd-3", Format{Compression: Zstd, Level: 3, BlockSize: ZstdBlockSize}},
	{"zstd-4", Format{Compression: Zstd, Level: 4, BlockSize: ZstdBlockSize}},
	{"zstd-chunked-2", ZstdChunkedFormat},
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

// cpuTime is the user+system CPU time of this process (who =
// syscall.RUSAGE_SELF) or of its waited-for children (RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkZstdAgainstCLI compares our multi-core zstd build (tar stream
// written, hashed and compressed, level 2 ≈ zstd -3) with the reference
// tool compressing the very same tar, already on disk, with
// `zstd -3 -T2` (and -T1), and with `tar | zstd -3 -T2` from the tree,
// over the real tree of BenchmarkBuildFormat (the
// synthetic one when there is none). MB/s is of tar stream; "ratio" is
// compressed / tar bytes; "cpu-ms/MB" is the CPU time (ours: the whole
// process; the CLI: its processes) per MB of tar, the fair figure on a
// shared machine, where wall time depends on the neighbours. The CLI gets
// the easier job: it reads a
// finished tar instead of walking the tree.
//
//	go test -run X -bench ZstdAgainstCLI -benchtime 3x ./internal/layer
func BenchmarkZstdAgainstCLI(b *testing.B) {
	tool, err := exec.LookPath("zstd")
	if err != nil {
		b.Skip("no zstd")
	}
	root := b.TempDir()
	paths := []string{realBenchTree(b, root)}
	if paths[0] == "" {
		paths = makeBenchStore(b, root, 200<<20)
	}
	tmp := b.TempDir()
	for _, f := range []Format{{Compression: Zstd, Level: 2, BlockSize: 1 << 20}, ZstdFormat, ZstdChunkedFormat} {
		name := fmt.Sprintf("ours-block-%dMiB", f.BlockSize>>20)
		if f.Compression == ZstdChunked {
			name = "ours-zstd-chunked"
		}
		b.Run(name, func(b *testing.B) {
			spec := Spec{Paths: sp(paths...), Format: f}
			cpu0, n := cpuTime(syscall.RUSAGE_SELF), 0
			var usize int64
			for b.Loop() {
				l, err := Build(context.Background(), spec, DirSource{root}, Options{TempDir: tmp})
				if err != nil {
					b.Fatal(err)
				}
				size, _ := l.Size()
				usize = l.UncompressedSize()
				b.SetBytes(usize)
				b.ReportMetric(float64(size)/float64(usize), "ratio")
				l.Close()
				n++
			}
			b.ReportMetric(float64((cpuTime(syscall.RUSAGE_SELF)-cpu0).Milliseconds())/float64(n)/(float64(usize)/1e6), "cpu-ms/MB")
		})
	}
	l, err := Build(context.Background(), Spec{Paths: sp(paths...), Format: ZstdFormat}, DirSource{root}, Options{TempDir: tmp})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	tarFile := filepath.Join(tmp, "layer.tar")
	f, err := os.Create(tarFile)
	if err != nil {
		b.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		b.Fatal(err)
	}
	rc.Close()
	f.Close()
	b.Run("cli-tar|zstd-3-T2", func(b *testing.B) {
		out := filepath.Join(tmp, "cli.zst")
		cpu0, n := cpuTime(syscall.RUSAGE_CHILDREN), 0
		defer func() {
			b.ReportMetric(float64((cpuTime(syscall.RUSAGE_CHILDREN)-cpu0).Milliseconds())/float64(n)/(float64(l.UncompressedSize())/1e6), "cpu-ms/MB")
		}()
		for b.Loop() {
			n++
			cmd := exec.Command("sh", "-c", `tar -C "$1" --sort=name -cf - nix | "$2" -q -f -3 -T2 -o "$3"`, "sh", root, tool, out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, msg)
			}
			fi, err := os.Stat(out)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(l.UncompressedSize())
			b.ReportMetric(float64(fi.Size())/float64(l.UncompressedSize()), "ratio")
		}
	})
	for _, threads := range []string{"-T1", "-T2"} {
		b.Run("cli-zstd-3"+threads, func(b *testing.B) {
			out := filepath.Join(tmp, "cli.zst")
			cpu0, n := cpuTime(syscall.RUSAGE_CHILDREN), 0
			defer func() {
				b.ReportMetric(float64((cpuTime(syscall.RUSAGE_CHILDREN)-cpu0).Milliseconds())/float64(n)/(float64(l.UncompressedSize())/1e6), "cpu-ms/MB")
			}()
			for b.Loop() {
				n++
				if msg, err := exec.Command(tool, "-q", "-f", "-3", threads, "-o", out, tarFile).CombinedOutput(); err != nil {
					b.Fatalf("%v\n%s", err, msg)
				}
				fi, err := os.Stat(out)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(l.UncompressedSize())
				b.ReportMetric(float64(fi.Size())/float64(l.UncompressedSize()), "ratio")
			}
		})
	}
}
