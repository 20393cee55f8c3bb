package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// hugeNARChild makes TestNARSourceHugeRSS run the build itself, in a
// process of its own whose peak RSS the parent reads.
const hugeNARChild = "NLA_TEST_HUGE_NAR_CHILD"

const hugeNARSize = 2<<30 + 3 // one file of 2 GiB and a bit (odd: NAR padding)

// maxHugeNARRSS is the peak RSS allowed for streaming the huge NAR.
const maxHugeNARRSS = 150 << 20

// pattern is an endless, compressible text stream (the layer of 2 GiB of
// it compresses to a few MB).
type pattern struct {
	block []byte
	off   int
}

func newPattern() *pattern {
	var b strings.Builder
	for i := 0; b.Len() < 4093; i++ {
		fmt.Fprintf(&b, "/nix/store/%032d-lib-%d.so deterministic layer line\n", i*7919, i)
	}
	return &pattern{block: []byte(b.String()[:4093])}
}

func (p *pattern) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c := copy(b[n:], p.block[p.off:])
		n += c
		p.off = (p.off + c) % len(p.block)
	}
	return n, nil
}

// writeHugeNAR writes the NAR of a directory holding the huge file (from
// the pattern) and a small one after it, with go-nix's NAR writer.
func writeHugeNAR(w io.Writer) error {
	nw, err := nar.NewWriter(w)
	if err != nil {
		return err
	}
	for _, h := range []*nar.Header{
		{Path: "/", Type: nar.TypeDirectory},
		{Path: "/blob", Type: nar.TypeRegular, Size: hugeNARSize, Executable: true},
		{Path: "/z", Type: nar.TypeRegular, Size: 2},
	} {
		if err := nw.WriteHeader(h); err != nil {
			return err
		}
		body := io.LimitReader(newPattern(), h.Size)
		if _, err := io.CopyBuffer(struct{ io.Writer }{nw}, body, make([]byte, 256<<10)); err != nil {
			return err
		}
	}
	return nw.Close()
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestNARSourceHugeRSS streams a NAR holding one 2 GiB file, generated on
// the fly, through NARSource into Build, in a child process, and checks
// its peak RSS (ru_maxrss) against maxHugeNARRSS.
func TestNARSourceHugeRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 2 GiB; skipped with -short")
	}
	if os.Getenv(hugeNARChild) != "" {
		buildHugeNAR(t)
		return
	}
	if raceEnabled() {
		t.Skip("the race detector multiplies memory use: RSS says nothing under -race")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNARSourceHugeRSS$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), hugeNARChild+"=1", "TMPDIR="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil || !strings.Contains(out.String(), "--- PASS: TestNARSourceHugeRSS") {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	t.Logf("%speak RSS %.1f MiB", childLog(out.String()), float64(rss)/(1<<20))
	if rss > maxHugeNARRSS {
		t.Errorf("peak RSS %d MiB, want ≤ %d MiB", rss>>20, maxHugeNARRSS>>20)
	}
}

// childLog returns the child's own log lines.
func childLog(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "bench_nar_test.go") {
			b.WriteString(strings.TrimSpace(l) + "; ")
		}
	}
	return b.String()
}

func buildHugeNAR(t *testing.T) {
	p := storePath('h', "huge-nar")
	open := func(context.Context, string) (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeHugeNAR(pw)) }()
		return pr, nil
	}
	sum := sha256.New() // the NAR hash Nix would have registered
	if err := writeHugeNAR(sum); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Paths: []StorePath{{Path: p, NarHash: nixpath.FormatSHA256(sum.Sum(nil))}}}
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { peak = peakHeap(stop) })
	start := time.Now()
	b, err := Build(context.Background(), spec, NARSource{Open: open}, Options{TempDir: t.TempDir()})
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	size, _ := b.Size()
	t.Logf("%.0f MB/s; peak heap in use %.1f MiB; compressed %.1f MiB", float64(hugeNARSize)/1e6/elapsed.Seconds(), float64(peak)/(1<<20), float64(size)/(1<<20))
	// nix/, nix/store/, the store path, blob and z (header + data + padding each), trailer.
	want := int64(3*512 + 512 + (hugeNARSize+511)/512*512 + 2*512 + 1024)
	if b.UncompressedSize() != want {
		t.Errorf("UncompressedSize %d, want %d", b.UncompressedSize(), want)
	}
}

// peakHeap samples the heap in use until stop is closed.
func peakHeap(stop <-chan struct{}) uint64 {
	var ms runtime.MemStats
	var peak uint64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
	}
}

// benchNARs dumps each store path under root into memory.
func benchNARs(b *testing.B, root string, paths []string) NAROpener {
	b.Helper()
	nars := map[string][]byte{}
	for _, p := range paths {
		nars[p] = narBytes(b, root+p)
	}
	return func(_ context.Context, p string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(nars[p])), nil
	}
}

// walkAll walks every path with src, reading every body.
func walkAll(b *testing.B, src Source, paths []string, buf []byte) {
	for _, p := range paths {
		err := src.Walk(context.Background(), p, func(e *Entry) error {
			if e.Body == nil {
				return nil
			}
			_, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{e.Body}, buf)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalk compares the sources alone (no tar, no gzip) over the
// ~200 MB tree of BenchmarkBuild: DirSource from the page cache, NARSource
// from NARs in memory.
func BenchmarkWalk(b *testing.B) {
	root := b.TempDir()
	const total = 200 << 20
	paths := makeBenchStore(b, root, total)
	nars := benchNARs(b, root, paths)
	for name, src := range map[string]Source{"dir": DirSource{root}, "nar": NARSource{Open: nars}} {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, copyBufferSize)
			b.SetBytes(total)
			for b.Loop() {
				walkAll(b, src, paths, buf)
			}
		})
	}
}

// BenchmarkBuildNAR is BenchmarkBuild with the store paths from NARs in
// memory.
func BenchmarkBuildNAR(b *testing.B) {
	root := b.TempDir()
	const total = 200 << 20
	paths := makeBenchStore(b, root, total)
	src := NARSource{Open: benchNARs(b, root, paths)}
	tmp := b.TempDir()
	spec := registered(b, Spec{Paths: sp(paths...)}, root)
	b.SetBytes(total)
	for b.Loop() {
		l, err := Build(context.Background(), spec, src, Options{TempDir: tmp})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}
