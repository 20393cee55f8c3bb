package e2e

// Temp disk of a cold push (issue 20, item 2): a layer's file leaves the
// temp dir as soon as its blob is in the registry, and builds do not run
// ahead of a slow link, so the disk holds a few layers, not the image.

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// slowLink is a reverse proxy to target that reads request bodies (the
// uploads) at about rate bytes per second in all: one link, shared by
// every upload, slower than the builds.
func slowLink(t *testing.T, target string, rate int) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	l := &link{rate: rate}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &slowBody{ReadCloser: r.Body, link: l}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// link paces the bytes of every body through it to rate per second.
type link struct {
	mu   sync.Mutex
	next time.Time // when the link is free again
	rate int
}

// pass waits until n more bytes fit through the link.
func (l *link) pass(n int) {
	l.mu.Lock()
	if now := time.Now(); l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(n) * time.Second / time.Duration(l.rate))
	d := time.Until(l.next)
	l.mu.Unlock()
	time.Sleep(d)
}

type slowBody struct {
	io.ReadCloser
	link *link
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	n, err := b.ReadCloser.Read(p)
	b.link.pass(n)
	return n, err
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// watchDir samples dir's size every millisecond until stop is called,
// which returns the most seen.
func watchDir(dir string) (stop func() int64) {
	var most atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if n := dirBytes(dir); n > most.Load() {
				most.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() int64 { close(done); <-finished; return most.Load() }
}

// TestE2ETempDiskBoundedByLayers: a cold push of six 2 MiB layers
// (incompressible) over a 8 MiB/s link with --jobs 1 --upload-jobs 1
// never holds more than two layers' files in the temp dir (measured by
// sampling the dir, and as the report's peakTempBytes), leaves it empty,
// and the report and the job summary say the peak.
func TestE2ETempDiskBoundedByLayers(t *testing.T) {
	testutil.Short(t)
	dir := t.TempDir()
	var pkgs []synthPkg
	for i := range 6 {
		pkgs = append(pkgs, synthPkg{Name: fmt.Sprintf("l%d", i), Seed: int64(700 + i), Size: 2 << 20})
	}
	planFile := synthPlan(t, filepath.Join(dir, "plan"), pkgs, "")
	reg := registry.Start(t, registry.Options{})
	host := slowLink(t, reg.URL(), 8<<20)
	tmp := filepath.Join(dir, "tmp")
	mkdir(t, tmp)
	repFile := filepath.Join(dir, "r.json")

	stop := watchDir(tmp)
	_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", host+"/e2e/tempdisk:latest",
		"--temp-dir", tmp, "--jobs", "1", "--upload-jobs", "1", "--report", repFile)
	seen := stop()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	rep := readReport(t, repFile)
	var largest, total int64
	for _, l := range rep.Layers {
		largest = max(largest, l.Size)
		total += l.Size
		if l.Status != "pushed" && l.Status != "empty" {
			t.Errorf("layer %s: status %s, want pushed", l.Name, l.Status)
		}
	}
	t.Logf("image %d B in %d layers (largest %d B); temp dir peak: %d B sampled, %d B reported",
		total, len(rep.Layers), largest, seen, rep.PeakTempBytes)
	if rep.PeakTempBytes <= 0 || rep.PeakTempBytes > 2*largest {
		t.Errorf("report: peakTempBytes = %d, want in (0, %d] (2 × the largest layer)", rep.PeakTempBytes, 2*largest)
	}
	if seen > 2*largest {
		t.Errorf("the temp dir held %d B at once, want at most %d (2 × the largest layer; the image is %d)", seen, 2*largest, total)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temp dir not empty after the run: %v", left)
	}
}

// TestE2EStreamedLayersNoTempFiles: with --layer-files=false every layer
// goes straight into its upload: nothing is ever written to the temp dir,
// the image is the one files give (same digest), and under 10% faulty
// requests (every kind) the retries write the bytes again and the push
// still completes with that digest.
func TestE2EStreamedLayersNoTempFiles(t *testing.T) {
	testutil.Short(t)
	dir := t.TempDir()
	var pkgs []synthPkg
	for i := range 5 {
		pkgs = append(pkgs, synthPkg{Name: fmt.Sprintf("l%d", i), Seed: int64(800 + i), Size: 1 << 20})
	}
	planFile := synthPlan(t, filepath.Join(dir, "plan"), pkgs, "")
	reg := registry.Start(t, registry.Options{})

	build := func(ref, name string, extra ...string) (*cliReport, int64) {
		t.Helper()
		tmp := filepath.Join(dir, "tmp-"+name)
		mkdir(t, tmp)
		repFile := filepath.Join(dir, name+".json")
		stop := watchDir(tmp)
		args := append([]string{"build", "--plan", planFile, "--image", ref, "--temp-dir", tmp, "--report", repFile}, extra...)
		_, stderr, err := runCLI(t, nil, args...)
		seen := stop()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("%s: temp dir not empty after the run: %v", name, left)
		}
		return readReport(t, repFile), seen
	}
	files, _ := build(reg.Ref("e2e/files:latest"), "files")
	streamed, seen := build(reg.Ref("e2e/streamed:latest"), "streamed", "--layer-files=false")
	if streamed.Digest != files.Digest {
		t.Errorf("streamed image %s, with files %s", streamed.Digest, files.Digest)
	}
	if seen != 0 || streamed.PeakTempBytes != 0 {
		t.Errorf("streaming held %d B in the temp dir (report: %d), want 0", seen, streamed.PeakTempBytes)
	}
	for _, l := range streamed.Layers {
		if l.Status != "pushed" && l.Status != "empty" {
			t.Errorf("layer %s: %s, want pushed", l.Name, l.Status)
		}
	}

	// A connection dropped mid-body (the bytes are written again from the
	// start), a commit refused after every byte went up (the digest is
	// known then: the retry asks for the blob, then uploads the bytes
	// written again), a refused PATCH, and 10% random faults besides.
	upload := regexp.MustCompile(`/blobs/uploads/.`)
	p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(), Rate: 0.10, Seed: 11, StallFor: time.Second, Rules: []*faultproxy.Rule{
		{Method: "PATCH", Path: upload, Nth: 2, Kind: faultproxy.Drop},
		{Method: "PUT", Path: upload, Nth: 1, Kind: faultproxy.Status503},
		{Method: "PATCH", Path: upload, Nth: 4, Times: 3, Kind: faultproxy.Status500},
	}})
	faulty, _ := build(p.Ref("e2e/faulty:latest"), "faulty", "--layer-files=false")
	if faulty.Digest != files.Digest {
		t.Errorf("streamed under faults: %s, want %s", faulty.Digest, files.Digest)
	}
	t.Logf("faults injected: %s", p.Summary())
	ruled := 0
	for _, e := range p.Events() {
		if upload.MatchString(e.Path) && (e.Method == "PATCH" || e.Method == "PUT") {
			ruled++
		}
	}
	if ruled < 3 {
		t.Errorf("only %d faults hit uploads: %s", ruled, p.Summary())
	}
	if d := tagDigest(t, reg, "e2e/faulty", "latest"); d != files.Digest {
		t.Errorf("tag holds %q, want %s", d, files.Digest)
	}
}
