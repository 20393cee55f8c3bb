package layer

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"
)

// BenchmarkVerify measures what checking every store path against its
// NarHash costs a layer build: each iteration builds the same layer with
// the check and without it (Options.noVerify, a test-only switch), in
// alternating order, and reports the wall and CPU time of both and the
// overheads in percent. The tree is real files (the Go toolchain, or
// NLA_BENCH_TREE: see realBenchTree), copied into a store-like directory
// and read from the page cache.
//
//	go test -run X -bench Verify -benchtime 5x ./internal/layer
func BenchmarkVerify(b *testing.B) {
	root := b.TempDir()
	p := realBenchTree(b, root)
	paths := []string{p}
	if p == "" {
		paths = makeBenchStore(b, root, 200<<20)
	}
	// The check alone: walking the tree from the page cache with and
	// without hashing its NAR (no tar, no compression).
	spec := registered(b, Spec{Paths: sp(paths...)}, root)
	for _, check := range []bool{false, true} {
		name := "walk"
		if check {
			name = "walk+narhash"
		}
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, copyBufferSize)
			var n int64
			var cpu time.Duration
			i := 0
			for b.Loop() {
				n = 0
				c0 := cpuTime(syscall.RUSAGE_SELF)
				for _, p := range spec.Paths {
					n += walkChecked(b, DirSource{root}, p, check, buf)
				}
				cpu += cpuTime(syscall.RUSAGE_SELF) - c0
				i++
			}
			b.SetBytes(n)
			b.ReportMetric(cpu.Seconds()/float64(i), "cpu-s")
		})
	}
	tmp := b.TempDir()
	for _, bf := range []struct {
		name string
		f    Format
	}{{"gzip-6", DefaultFormat}, {"zstd-2", ZstdFormat}} {
		b.Run(bf.name, func(b *testing.B) {
			spec := registered(b, Spec{Paths: sp(paths...), Format: bf.f}, root)
			var wall, cpu [2]time.Duration // [0] checked, [1] not
			var tarBytes int64
			i := 0
			for b.Loop() {
				for k := range 2 {
					noVerify := (i+k)%2 == 1 // alternate which goes first
					w0, c0 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
					l, err := Build(context.Background(), spec, DirSource{root}, Options{TempDir: tmp, noVerify: noVerify})
					if err != nil {
						b.Fatal(err)
					}
					j := 0
					if noVerify {
						j = 1
					}
					wall[j] += time.Since(w0)
					cpu[j] += cpuTime(syscall.RUSAGE_SELF) - c0
					tarBytes = l.UncompressedSize()
					l.Close()
				}
				i++
			}
			n := float64(i)
			b.ReportMetric(wall[0].Seconds()/n, "wall-checked-s")
			b.ReportMetric(wall[1].Seconds()/n, "wall-unchecked-s")
			b.ReportMetric(cpu[0].Seconds()/n, "cpu-checked-s")
			b.ReportMetric(cpu[1].Seconds()/n, "cpu-unchecked-s")
			b.ReportMetric(100*(wall[0].Seconds()/wall[1].Seconds()-1), "wall-overhead-%")
			b.ReportMetric(100*(cpu[0].Seconds()/cpu[1].Seconds()-1), "cpu-overhead-%")
			b.ReportMetric(float64(tarBytes)/1e6, "tar-MB")
		})
	}
}

// walkChecked walks store path p, reading every file, and when check is
// set hashes its NAR and checks it; it returns the bytes of file content.
func walkChecked(b *testing.B, src Source, p StorePath, check bool, buf []byte) int64 {
	var c *NARCheck
	if check {
		var err error
		if c, err = NewNARCheck(p.Path, p.NarHash); err != nil {
			b.Fatal(err)
		}
	}
	var n int64
	err := src.Walk(context.Background(), p.Path, func(e *Entry) error {
		body := e.Body
		if c != nil {
			r, err := c.Entry(e)
			if err != nil {
				return err
			}
			body = r
		}
		if body == nil {
			return nil
		}
		m, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{body}, buf)
		n += m
		return err
	})
	if err == nil && c != nil {
		err = c.Finish()
	}
	if err != nil {
		b.Fatal(err)
	}
	return n
}
