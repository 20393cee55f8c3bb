package layer

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestHugeSparseFile builds a layer holding a sparse file larger than 8 GiB
// (USTAR's size limit), which needs a PAX size record, and checks that the
// heap stays small while ~8 GiB stream through the pipeline.
func TestHugeSparseFile(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 8 GiB (sparse, no disk needed); skipped with -short")
	}
	root := t.TempDir()
	p := storePath('9', "huge")
	mkdir(t, root, p, 0o755)
	const size = 8<<30 + 1
	f, err := os.Create(host(root, p+"/blob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		t.Skipf("cannot create a sparse file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	b := build(t, Spec{Paths: sp(p)}, root, Options{TempDir: t.TempDir()})
	close(stop)
	wg.Wait()
	t.Logf("peak heap in use: %.1f MiB; compressed %d bytes", float64(peak)/(1<<20), func() int64 { s, _ := b.Size(); return s }())
	if peak > 100<<20 {
		t.Errorf("peak heap in use %d MiB, want < 100 MiB", peak>>20)
	}

	// Headers: nix/, nix/store/, the store dir, then PAX header + header + data + padding, then the 1 KiB trailer.
	wantTar := int64(3*512 + 2*512 + 512 + (size+511)/512*512 + 1024)
	if b.UncompressedSize() != wantTar {
		t.Errorf("UncompressedSize = %d, want %d", b.UncompressedSize(), wantTar)
	}
	rc, err := b.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for range 4 {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == p[1:]+"/blob" {
			if h.Size != size || h.PAXRecords["size"] != "8589934593" {
				t.Errorf("blob: size %d, PAX %v", h.Size, h.PAXRecords)
			}
			return
		}
	}
	t.Errorf("no blob entry among the first 4 entries")
}
