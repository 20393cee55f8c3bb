package substituter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// payload returns n bytes that compress somewhat (text with varying
// numbers), like real store content.
func payload(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString("line " + strconv.Itoa(i*7919%100003) + " of some store file content\n")
	}
	return b.Bytes()[:n]
}

func xzCommand(t testing.TB) string {
	p, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("xz not installed")
	}
	return p
}

func TestOpenNARCompressions(t *testing.T) {
	type variant struct {
		compression string
		opts        func(t *testing.T) []Option
	}
	none := func(*testing.T) []Option { return nil }
	variants := []variant{
		{"none", none}, {"xz", none}, {"zstd", none}, {"bzip2", none}, {"gzip", none}, {"br", none},
		{"xz", func(t *testing.T) []Option { return []Option{WithXZCommand(xzCommand(t))} }},
	}
	for i, v := range variants {
		name := v.compression
		if i == len(variants)-1 {
			name = "xz-external"
		}
		t.Run(name, func(t *testing.T) {
			fc := newFakeCache(t, v.compression)
			content := payload(300 << 10)
			p := fc.add("p-1", content)
			for _, u := range []string{fc.serve(), fc.fileURL()} {
				cl := newClient(t, fc.config(u), v.opts(t)...)
				if _, err := cl.PathInfos(ctxT(t), []string{p}); err != nil {
					t.Fatal(err)
				}
				got := readNAR(t, cl, p)
				if !bytes.Equal(got, fc.paths[p].nar) {
					t.Fatalf("%s: NAR differs (%d vs %d bytes)", u, len(got), len(fc.paths[p].nar))
				}
				st := cl.Stats()[0]
				file, _ := os.Stat(fc.narFile(p))
				if st.NARRequests != 1 || st.NARBytes != int64(len(fc.paths[p].nar)) || st.NARWireBytes != file.Size() {
					t.Errorf("%s: stats %+v, want 1 request, %d bytes, %d on the wire", u, st, len(fc.paths[p].nar), file.Size())
				}
			}
		})
	}
}

func readNAR(t testing.TB, cl *Client, p string) []byte {
	t.Helper()
	rc, err := cl.OpenNAR(ctxT(t), p)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestOpenNARWithoutPathInfos fetches the narinfo on demand.
func TestOpenNARWithoutPathInfos(t *testing.T) {
	fc := newFakeCache(t, "zstd")
	p := fc.add("p-1", payload(1000))
	cl := newClient(t, fc.config(fc.fileURL()))
	if got := readNAR(t, cl, p); !bytes.Equal(got, fc.paths[p].nar) {
		t.Error("NAR differs")
	}
	_, err := cl.OpenNAR(ctxT(t), newStorePath("absent-1"))
	var me *MissingError
	if !errors.As(err, &me) {
		t.Errorf("absent path: err = %v, want *MissingError", err)
	}
}

// TestOpenNARCorrupt flips one byte of the stored NAR: uncompressed, the
// final Read reports a *HashMismatchError (never io.EOF); compressed, the
// decoder's own check or the hash check fires. Either way io.ReadAll fails.
func TestOpenNARCorrupt(t *testing.T) {
	for _, comp := range []string{"none", "xz", "zstd", "gzip", "bzip2", "br"} {
		t.Run(comp, func(t *testing.T) {
			fc := newFakeCache(t, comp)
			p := fc.add("p-1", payload(64<<10))
			flipByte(t, fc.narFile(p), 0.6)
			cl := newClient(t, fc.config(fc.serve()))
			rc, err := cl.OpenNAR(ctxT(t), p)
			if err != nil {
				assertCorruptErr(t, err)
				return
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			assertCorruptErr(t, err)
			if comp == "none" {
				var hm *HashMismatchError
				if !errors.As(err, &hm) || hm.Path != p || hm.Want != fc.paths[p].narHash || hm.Got == hm.Want || hm.GotSize != hm.WantSize {
					t.Errorf("err = %#v, want *HashMismatchError with differing hashes", err)
				}
				if n, err2 := rc.Read(make([]byte, 10)); n != 0 || !errors.As(err2, &hm) {
					t.Errorf("Read after mismatch = %d, %v; want the same error again", n, err2)
				}
			}
		})
	}
}

func assertCorruptErr(t *testing.T, err error) {
	t.Helper()
	var hm *HashMismatchError
	var ne *NARError
	if err == nil || err == io.EOF || (!errors.As(err, &hm) && !errors.As(err, &ne)) {
		t.Fatalf("err = %v, want *HashMismatchError or *NARError", err)
	}
}

func flipByte(t testing.TB, name string, at float64) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	data[int(float64(len(data))*at)] ^= 0x55
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func truncateFile(t testing.TB, name string, keep float64) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, int64(float64(fi.Size())*keep)); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNARTruncated(t *testing.T) {
	for _, comp := range []string{"none", "xz", "zstd", "bzip2", "gzip", "br"} {
		t.Run(comp, func(t *testing.T) {
			fc := newFakeCache(t, comp)
			p := fc.add("p-1", payload(64<<10))
			truncateFile(t, fc.narFile(p), 0.5)
			cl := newClient(t, fc.config(fc.serve()))
			rc, err := cl.OpenNAR(ctxT(t), p)
			if err != nil {
				assertCorruptErr(t, err)
				return
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			assertCorruptErr(t, err)
			if comp == "none" {
				var hm *HashMismatchError
				if !errors.As(err, &hm) || hm.GotSize >= hm.WantSize {
					t.Errorf("err = %v, want a size mismatch", err)
				}
			}
		})
	}
}

// TestOpenNARTooLong: a stream longer than NarSize fails as soon as it
// passes NarSize, not only at the end.
func TestOpenNARTooLong(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(1000))
	f, err := os.OpenFile(fc.narFile(p), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte("x"), 1<<20))
	f.Close()
	cl := newClient(t, fc.config(fc.fileURL()))
	rc, err := cl.OpenNAR(ctxT(t), p)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	var hm *HashMismatchError
	if !errors.As(err, &hm) || hm.GotSize <= hm.WantSize || n > int64(len(fc.paths[p].nar))+64<<10 {
		t.Errorf("read %d bytes, err = %v; want an early size mismatch", n, err)
	}
}

// TestOpenNARShortBody: the server announces the full length but drops the
// connection half way, every time: after the bounded resumes the read
// fails.
func TestOpenNARShortBody(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(100<<10))
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/nar/") {
			return false
		}
		nar := fc.paths[p].nar
		w.Header().Set("Content-Length", strconv.Itoa(len(nar)))
		w.Write(nar[:len(nar)/2])
		return true // handler returns early: net/http closes the connection
	})
	cl := newClient(t, fc.config(fc.serve()))
	rc, err := cl.OpenNAR(ctxT(t), p)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	var ne *NARError
	if !errors.As(err, &ne) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want *NARError wrapping io.ErrUnexpectedEOF", err)
	}
}

// TestOpenNARPartialReadNoLeak opens many NARs, reads a little of each and
// closes them: goroutines return to the baseline and the xz processes are
// reaped.
func TestOpenNARPartialReadNoLeak(t *testing.T) {
	for _, tc := range []struct {
		comp string
		opts func(t *testing.T) []Option
	}{
		{"none", func(*testing.T) []Option { return nil }},
		{"zstd", func(*testing.T) []Option { return nil }},
		{"xz", func(t *testing.T) []Option { return []Option{WithXZCommand(xzCommand(t))} }},
	} {
		t.Run(tc.comp, func(t *testing.T) {
			fc := newFakeCache(t, tc.comp)
			p := fc.add("p-1", payload(2<<20))
			u := fc.serve()
			// A long idle timeout: a leaked body must not be rescued by it.
			cl := newClient(t, fc.config(u), append(tc.opts(t), WithIdleTimeout(time.Minute))...)
			if _, err := cl.PathInfos(ctxT(t), []string{p}); err != nil {
				t.Fatal(err)
			}
			before := runtime.NumGoroutine()
			for range 20 {
				rc, err := cl.OpenNAR(ctxT(t), p)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
					t.Fatal(err)
				}
				if err := rc.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if _, err := rc.Read(make([]byte, 1)); err == nil {
					t.Error("Read after Close succeeded")
				}
			}
			waitGoroutines(t, before)
			// The client closed every body: the server's handlers all end.
			deadline := time.Now().Add(5 * time.Second)
			for fc.inflight.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := fc.inflight.Load(); n != 0 {
				t.Errorf("%d requests still in flight on the server", n)
			}
		})
	}
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want+2 { // idle keep-alive connections may come and go
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want <= %d:\n%s", n, want+2, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenNARUnsupportedCompression(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(100))
	fc.editNarinfo(p, func(s string) string { return strings.Replace(s, "Compression: none", "Compression: lz4", 1) })
	cl := newClient(t, fc.config(fc.fileURL()))
	_, err := cl.OpenNAR(ctxT(t), p)
	var ue *UnsupportedCompressionError
	if !errors.As(err, &ue) || ue.Compression != "lz4" {
		t.Errorf("err = %v, want *UnsupportedCompressionError", err)
	}
}

// TestOpenNAREscapingURL: a narinfo URL must stay inside the cache.
func TestOpenNAREscapingURL(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(100))
	for _, bad := range []string{"../../etc/passwd", "/etc/passwd", "nar/../../x", "file:///etc/passwd"} {
		fc.editNarinfo(p, func(s string) string { return replaceLine(s, "URL: ", "URL: "+bad) })
		cl := newClient(t, &Config{Substituters: []string{fc.fileURL()}})
		_, err := cl.OpenNAR(ctxT(t), p)
		var ne *NarinfoError
		if !errors.As(err, &ne) {
			t.Errorf("URL %q: err = %v, want *NarinfoError", bad, err)
		}
	}
}

// TestOpenNARResumedBytesVerified: a transfer cut short once is resumed
// with a Range request, and the joined stream is still checked against the
// narinfo: a cache that serves other bytes for the rest (here: the file
// changed in place, its Last-Modified kept) fails with a hash mismatch.
func TestOpenNARResumedBytesVerified(t *testing.T) {
	for _, change := range []bool{false, true} {
		fc := newFakeCache(t, "none")
		p := fc.add("p-1", payload(100<<10))
		name := fc.narFile(p)
		var cut atomic.Bool
		var (
			mu     sync.Mutex
			ranges []string
		)
		fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasPrefix(r.URL.Path, "/nar/") {
				return false
			}
			mu.Lock()
			ranges = append(ranges, r.Header.Get("Range"))
			mu.Unlock()
			if cut.Swap(true) {
				return false // the file server answers the Range
			}
			nar := fc.paths[p].nar
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("Content-Length", strconv.Itoa(len(nar)))
			w.Write(nar[:len(nar)/2])
			if change {
				fi, _ := os.Stat(name)
				data := bytes.Clone(nar)
				data[len(data)*3/4] ^= 0xff
				os.WriteFile(name, data, 0o644)
				os.Chtimes(name, fi.ModTime(), fi.ModTime())
			}
			return true // net/http closes the connection
		})
		cl := newClient(t, fc.config(fc.serve()))
		rc, err := cl.OpenNAR(ctxT(t), p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		mu.Lock()
		defer mu.Unlock()
		if len(ranges) != 2 || ranges[1] != fmt.Sprintf("bytes=%d-", len(fc.paths[p].nar)/2) {
			t.Errorf("NAR requests with Range %q, want a resume from byte %d", ranges, len(fc.paths[p].nar)/2)
		}
		var hm *HashMismatchError
		switch {
		case !change && (err != nil || !bytes.Equal(got, fc.paths[p].nar)):
			t.Errorf("resumed NAR: %d bytes, err %v", len(got), err)
		case change && !errors.As(err, &hm):
			t.Errorf("other bytes after the resume: err = %v, want a hash mismatch", err)
		}
	}
}
