package substituter

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/ulikunitz/xz"
)

// fakeCache is a binary cache written by the tests into a directory:
// NARs made with go-nix's NAR writer, narinfos signed with a generated key.
// serve() exposes it over HTTP through hooks that can stall or fail
// requests.
type fakeCache struct {
	t           testing.TB
	dir         string
	compression string
	sk          signature.SecretKey
	pk          signature.PublicKey
	paths       map[string]*fakePath

	mu       sync.Mutex
	requests map[string]int // URL path → count
	inflight atomic.Int32
	maxIn    atomic.Int32
	hook     func(w http.ResponseWriter, r *http.Request) bool // true: handled
	srv      *httptest.Server
}

// fakePath is one store path in a fakeCache.
type fakePath struct {
	path    string
	refs    []string // absolute
	nar     []byte
	narHash string // sha256:<nix32>
	file    string // relative URL of the compressed NAR
}

func newFakeCache(t testing.TB, compression string) *fakeCache {
	t.Helper()
	sk, pk, err := signature.GenerateKeypair("test-cache-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeCache{t: t, dir: t.TempDir(), compression: compression, sk: sk, pk: pk,
		paths: make(map[string]*fakePath), requests: make(map[string]int)}
	fc.writeFile("nix-cache-info", "StoreDir: /nix/store\nWantMassQuery: 1\n")
	if err := os.MkdirAll(filepath.Join(fc.dir, "nar"), 0o755); err != nil {
		t.Fatal(err)
	}
	return fc
}

// newStorePath returns a random valid store path with name.
func newStorePath(name string) string {
	b := make([]byte, 20)
	rand.Read(b)
	return "/nix/store/" + nixbase32.EncodeToString(b) + "-" + name
}

func hashPart(p string) string { return filepath.Base(p)[:32] }

func (fc *fakeCache) writeFile(rel, content string) {
	fc.t.Helper()
	if err := os.WriteFile(filepath.Join(fc.dir, rel), []byte(content), 0o644); err != nil {
		fc.t.Fatal(err)
	}
}

// add creates a store path whose NAR is a directory holding a file with
// content (plus the references' paths, as real store paths embed them),
// signs and writes its narinfo, and returns the path.
func (fc *fakeCache) add(name string, content []byte, refs ...string) string {
	fc.t.Helper()
	p := newStorePath(name)
	fc.addPath(p, content, refs...)
	return p
}

func (fc *fakeCache) addPath(p string, content []byte, refs ...string) *fakePath {
	fc.t.Helper()
	fp := &fakePath{path: p, refs: append([]string(nil), refs...), nar: makeNAR(fc.t, content, refs)}
	sum := sha256.Sum256(fp.nar)
	fp.narHash = "sha256:" + nixbase32.EncodeToString(sum[:])
	comp := compress(fc.t, fc.compression, fp.nar)
	fsum := sha256.Sum256(comp)
	fp.file = "nar/" + nixbase32.EncodeToString(fsum[:]) + ".nar" + compressionExt(fc.compression)
	fc.writeFile(fp.file, string(comp))
	fc.paths[p] = fp
	fc.writeNarinfo(fp, fc.narinfoText(fp, len(comp), fsum[:], true))
	return fp
}

// narinfoText renders fp's narinfo, signed by fc's key when sign is set.
func (fc *fakeCache) narinfoText(fp *fakePath, fileSize int, fileHash []byte, sign bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "StorePath: %s\nURL: %s\nCompression: %s\n", fp.path, fp.file, fc.compression)
	fmt.Fprintf(&b, "FileHash: sha256:%s\nFileSize: %d\n", nixbase32.EncodeToString(fileHash), fileSize)
	var bases []string
	for _, r := range sortedCopy(fp.refs) {
		bases = append(bases, filepath.Base(r))
	}
	fmt.Fprintf(&b, "NarHash: %s\nNarSize: %d\nReferences: %s", fp.narHash, len(fp.nar), strings.Join(bases, " "))
	b.WriteString("\nDeriver: " + nixbase32.EncodeToString(make([]byte, 20)) + "-x.drv\n")
	if sign {
		sig, err := fc.sk.Sign(nil, fingerprintOf(fp))
		if err != nil {
			fc.t.Fatal(err)
		}
		b.WriteString("Sig: " + sig.String() + "\n")
	}
	return b.String()
}

func fingerprintOf(fp *fakePath) string {
	return "1;" + fp.path + ";" + fp.narHash + ";" + fmt.Sprint(len(fp.nar)) + ";" + strings.Join(sortedCopy(fp.refs), ",")
}

func (fc *fakeCache) writeNarinfo(fp *fakePath, text string) {
	fc.writeFile(hashPart(fp.path)+".narinfo", text)
}

// editNarinfo rewrites p's narinfo with f.
func (fc *fakeCache) editNarinfo(p string, f func(string) string) {
	fc.t.Helper()
	name := filepath.Join(fc.dir, hashPart(p)+".narinfo")
	data, err := os.ReadFile(name)
	if err != nil {
		fc.t.Fatal(err)
	}
	fc.writeFile(hashPart(p)+".narinfo", f(string(data)))
}

func (fc *fakeCache) removeNarinfo(p string) {
	fc.t.Helper()
	if err := os.Remove(filepath.Join(fc.dir, hashPart(p)+".narinfo")); err != nil {
		fc.t.Fatal(err)
	}
}

// narFile returns the on-disk name of p's compressed NAR.
func (fc *fakeCache) narFile(p string) string { return filepath.Join(fc.dir, fc.paths[p].file) }

func (fc *fakeCache) fileURL() string { return "file://" + fc.dir }

// serve starts an HTTP server for the cache and returns its URL.
func (fc *fakeCache) serve() string {
	fc.t.Helper()
	files := http.FileServer(http.Dir(fc.dir))
	fc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fc.inflight.Add(1)
		defer fc.inflight.Add(-1)
		for {
			m := fc.maxIn.Load()
			if n <= m || fc.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		fc.mu.Lock()
		fc.requests[r.URL.Path]++
		hook := fc.hook
		fc.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		files.ServeHTTP(w, r)
	}))
	fc.t.Cleanup(fc.srv.Close)
	return fc.srv.URL
}

func (fc *fakeCache) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	fc.mu.Lock()
	fc.hook = h
	fc.mu.Unlock()
}

func (fc *fakeCache) requestCount(urlPath string) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.requests[urlPath]
}

// narinfoRequests returns the number of narinfo requests per URL path.
func (fc *fakeCache) narinfoRequests() map[string]int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := make(map[string]int)
	for k, v := range fc.requests {
		if strings.HasSuffix(k, ".narinfo") {
			out[k] = v
		}
	}
	return out
}

// makeNAR serialises a directory with bin/data (content) and
// nix-support/refs (the references, one per line) with go-nix's writer.
func makeNAR(t testing.TB, content []byte, refs []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := nar.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	refText := []byte(strings.Join(refs, "\n"))
	hdrs := []struct {
		h    nar.Header
		data []byte
	}{
		{nar.Header{Path: "/", Type: nar.TypeDirectory}, nil},
		{nar.Header{Path: "/bin", Type: nar.TypeDirectory}, nil},
		{nar.Header{Path: "/bin/data", Type: nar.TypeRegular, Size: int64(len(content)), Executable: true}, content},
		{nar.Header{Path: "/bin/link", Type: nar.TypeSymlink, LinkTarget: "data"}, nil},
		{nar.Header{Path: "/nix-support", Type: nar.TypeDirectory}, nil},
		{nar.Header{Path: "/nix-support/refs", Type: nar.TypeRegular, Size: int64(len(refText))}, refText},
	}
	for _, h := range hdrs {
		if err := w.WriteHeader(&h.h); err != nil {
			t.Fatal(err)
		}
		if h.data != nil {
			if _, err := w.Write(h.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compressionExt(c string) string {
	switch c {
	case "xz":
		return ".xz"
	case "zstd":
		return ".zst"
	case "bzip2":
		return ".bz2"
	case "br":
		return ".br"
	}
	return "" // none; Nix 2.8 names gzip NARs .nar too
}

// compress compresses data as a binary cache would store it.
func compress(t testing.TB, method string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch method {
	case "none":
		return append([]byte(nil), data...)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf)
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "bzip2":
		return runFilter(t, []string{"bzip2", "-c"}, data)
	default:
		t.Fatalf("compress: unknown method %q", method)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func runFilter(t testing.TB, argv []string, in []byte) []byte {
	t.Helper()
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		t.Skipf("%s not installed", argv[0])
	}
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return out
}

// config returns a Config using the given substituter URLs and trusting
// keys (fc's key when none are given).
func (fc *fakeCache) config(urls ...string) *Config {
	return &Config{Substituters: urls, TrustedPublicKeys: []string{fc.pk.String()}, RequireSigs: true}
}

// testOptions are fast defaults for unit tests: short timeouts, no real
// sleeping between retries, log lines to t.
func testOptions(t testing.TB, extra ...Option) []Option {
	opts := []Option{
		WithConnectTimeout(2 * time.Second),
		WithResponseHeaderTimeout(5 * time.Second),
		WithIdleTimeout(5 * time.Second),
		WithRetries(2, time.Millisecond, 5*time.Millisecond),
		WithLogger(func(format string, args ...any) { t.Logf(format, args...) }),
	}
	return append(opts, extra...)
}

func newClient(t testing.TB, cfg *Config, opts ...Option) *Client {
	t.Helper()
	c, err := New(cfg, testOptions(t, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// chain creates a→b→c (c has a self-reference) and an independent d, and
// returns them in that order.
func (fc *fakeCache) chain() (a, b, c, d string) {
	c = newStorePath("c-1.0")
	fc.addPath(c, []byte("c content"), c)
	b = fc.add("b-1.0", []byte("b content"), c)
	a = fc.add("a-1.0", []byte("a content"), b, c)
	d = fc.add("d-1.0", []byte("d content"))
	return a, b, c, d
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func removeIn(dir, rel string) error { return os.Remove(filepath.Join(dir, rel)) }

func readFile(t testing.TB, dir, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
