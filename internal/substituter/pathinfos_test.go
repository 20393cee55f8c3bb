package substituter

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/nixpath"
)

func TestPathInfosClosure(t *testing.T) {
	for _, scheme := range []string{"http", "file"} {
		t.Run(scheme, func(t *testing.T) {
			fc := newFakeCache(t, "xz")
			a, b, c, d := fc.chain()
			u := fc.fileURL()
			if scheme == "http" {
				u = fc.serve()
			}
			cl := newClient(t, fc.config(u))
			got, err := cl.PathInfos(ctxT(t), []string{a})
			if err != nil {
				t.Fatal(err)
			}
			want := []closure.PathInfo{fc.info(a), fc.info(b), fc.info(c)}
			sortInfos(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("PathInfos(a) =\n%+v\nwant\n%+v", got, want)
			}
			if _, err := closure.NewGraph(got); err != nil {
				t.Errorf("result is not a closed graph: %v", err)
			}
			all, err := cl.PathInfos(ctxT(t), []string{d, a})
			if err != nil || len(all) != 4 {
				t.Fatalf("PathInfos(d, a) = %d infos, %v", len(all), err)
			}
		})
	}
}

// info is the PathInfo the cache should yield for p.
func (fc *fakeCache) info(p string) closure.PathInfo {
	fp := fc.paths[p]
	return closure.PathInfo{Path: p, NarHash: fp.narHash, NarSize: int64(len(fp.nar)), References: append([]string{}, sortedCopy(fp.refs)...)}
}

func sortedInfos(in ...closure.PathInfo) []closure.PathInfo {
	sortInfos(in)
	return in
}

func sortInfos(in []closure.PathInfo) {
	for i := range in {
		for j := i + 1; j < len(in); j++ {
			if in[j].Path < in[i].Path {
				in[i], in[j] = in[j], in[i]
			}
		}
	}
}

func TestPathInfosSignatures(t *testing.T) {
	fc := newFakeCache(t, "none")
	good := fc.add("good-1", []byte("g"))
	unsigned := fc.add("unsigned-1", []byte("u"))
	fc.editNarinfo(unsigned, dropSigs)
	forged := fc.add("forged-1", []byte("f"))
	// Same key name, different key: the signature must not verify.
	other, _, _ := signature.GenerateKeypair(fc.sk.ToPublicKey().Name, nil)
	fc.editNarinfo(forged, func(s string) string {
		sig, _ := other.Sign(nil, fingerprintOf(fc.paths[forged]))
		return dropSigs(s) + "Sig: " + sig.String() + "\n"
	})
	stranger := fc.add("stranger-1", []byte("s"))
	unknown, _, _ := signature.GenerateKeypair("unknown-key-1", nil)
	fc.editNarinfo(stranger, func(s string) string {
		sig, _ := unknown.Sign(nil, fingerprintOf(fc.paths[stranger]))
		return dropSigs(s) + "Sig: " + sig.String() + "\n"
	})
	tampered := fc.add("tampered-1", []byte("t"))
	fc.editNarinfo(tampered, func(s string) string { return strings.Replace(s, "NarSize: ", "NarSize: 1", 1) })
	u := fc.serve()

	cases := []struct {
		path   string
		reason string // "" = accepted under require-sigs
	}{
		{good, ""},
		{unsigned, "unsigned"},
		{forged, "does not verify"},
		{stranger, "no signature by a trusted key (signed by unknown-key-1)"},
		{tampered, "does not verify"},
	}
	strict := newClient(t, fc.config(u))
	lax := newClient(t, &Config{Substituters: []string{u}, RequireSigs: false})
	trusted := newClient(t, &Config{Substituters: []string{u + "?trusted=1"}, RequireSigs: true})
	for _, tc := range cases {
		_, err := strict.PathInfos(ctxT(t), []string{tc.path})
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
			}
		} else {
			var se *SignatureError
			if !errors.As(err, &se) || se.Path != tc.path || se.Cache != u || !strings.Contains(se.Reason, tc.reason) {
				t.Errorf("%s: err = %v, want *SignatureError naming the path, %s and %q", tc.path, err, u, tc.reason)
			}
		}
		if _, err := lax.PathInfos(ctxT(t), []string{tc.path}); err != nil {
			t.Errorf("require-sigs=false: %s: %v", tc.path, err)
		}
		if _, err := trusted.PathInfos(ctxT(t), []string{tc.path}); err != nil {
			t.Errorf("?trusted=1: %s: %v", tc.path, err)
		}
	}
}

func dropSigs(s string) string {
	var out []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "Sig: ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestPathInfosBadSignatureFallsBack: a cache whose narinfo is rejected
// does not hide a valid one further down the list.
func TestPathInfosBadSignatureFallsBack(t *testing.T) {
	first := newFakeCache(t, "none")
	p := first.add("p-1", []byte("p"))
	first.editNarinfo(p, dropSigs)
	second := newFakeCache(t, "none")
	second.sk, second.pk = first.sk, first.pk
	second.addPath(p, []byte("p"))
	u1, u2 := first.serve(), second.serve()
	cl := newClient(t, first.config(u1, u2))
	got, err := cl.PathInfos(ctxT(t), []string{p})
	if err != nil || len(got) != 1 {
		t.Fatalf("PathInfos = %v, %v", got, err)
	}
	st := cl.Stats()
	if st[0].NarinfoHits != 0 || st[1].NarinfoHits != 1 {
		t.Errorf("hits = %d, %d; want 0, 1", st[0].NarinfoHits, st[1].NarinfoHits)
	}
}

func TestPathInfosPriority(t *testing.T) {
	mk := func(info string) (*fakeCache, string) {
		fc := newFakeCache(t, "none")
		fc.writeFile("nix-cache-info", info)
		return fc, fc.serve()
	}
	a, ua := mk("StoreDir: /nix/store\nPriority: 40\n")
	b, ub := mk("StoreDir: /nix/store\nPriority: 30\n")
	c, uc := mk("StoreDir: /nix/store\n") // no Priority: 0, as in Nix 2.8
	p := newStorePath("shared-1")
	for _, fc := range []*fakeCache{b, c} {
		fc.sk, fc.pk = a.sk, a.pk
	}
	for _, fc := range []*fakeCache{a, b, c} {
		fc.addPath(p, []byte("same"))
	}
	cases := []struct {
		name string
		urls []string
		want string // cache expected to serve p
	}{
		{"nix-cache-info priorities", []string{ua, ub}, ub},
		{"missing Priority is 0", []string{ua, ub, uc}, uc},
		{"URL priority overrides nix-cache-info", []string{ua + "?priority=10", ub, uc + "?priority=50"}, ua},
		{"ties keep configured order", []string{ub + "?priority=5", ua + "?priority=5"}, ub},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, a.config(tc.urls...))
			if _, err := cl.PathInfos(ctxT(t), []string{p}); err != nil {
				t.Fatal(err)
			}
			for _, s := range cl.Stats() {
				served := s.NarinfoHits == 1
				if served != (s.Cache == tc.want) {
					t.Errorf("cache %s (priority %d) hits=%d; want %s to serve", s.Cache, s.Priority, s.NarinfoHits, tc.want)
				}
			}
			if cl.Caches()[0] != tc.want {
				t.Errorf("first cache = %s, want %s", cl.Caches()[0], tc.want)
			}
		})
	}
}

func TestPathInfosMissing(t *testing.T) {
	fc := newFakeCache(t, "none")
	a, b, c, d := fc.chain()
	fc.removeNarinfo(b)
	absent := newStorePath("absent-1")
	cl := newClient(t, fc.config(fc.serve()))
	got, err := cl.PathInfos(ctxT(t), []string{a, d, absent})
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *MissingError", err)
	}
	if want := sortedCopy([]string{b, absent}); !reflect.DeepEqual(me.Paths, want) {
		t.Errorf("missing = %q, want %q", me.Paths, want)
	}
	// c is reachable from a directly, so it is found despite b missing.
	var found []string
	for _, in := range got {
		found = append(found, in.Path)
	}
	if want := sortedCopy([]string{a, c, d}); !reflect.DeepEqual(found, want) {
		t.Errorf("found = %q, want %q", found, want)
	}
}

// TestPathInfosFetchesOnce: overlapping and concurrent PathInfos calls on
// one Client fetch every narinfo exactly once, misses included.
func TestPathInfosFetchesOnce(t *testing.T) {
	fc := newFakeCache(t, "none")
	a, b, c, d := fc.chain()
	absent := newStorePath("absent-1")
	cl := newClient(t, fc.config(fc.serve()))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			roots := [][]string{{a}, {b, d}, {c, absent}, {a, d, absent}}[i%4]
			_, err := cl.PathInfos(ctxT(t), roots)
			var me *MissingError
			if err != nil && !errors.As(err, &me) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, p := range []string{a, b, c, d, absent} {
		if n := fc.requestCount("/" + hashPart(p) + ".narinfo"); n != 1 {
			t.Errorf("%s.narinfo fetched %d times, want 1", hashPart(p), n)
		}
	}
	if n := fc.requestCount("/nix-cache-info"); n != 1 {
		t.Errorf("nix-cache-info fetched %d times, want 1", n)
	}
	if s := cl.Stats()[0]; s.NarinfoRequests != 5 || s.NarinfoHits != 4 {
		t.Errorf("stats = %+v, want 5 requests, 4 hits", s)
	}
}

// TestPathInfosConcurrencyBound: a wide closure is fetched in parallel, but
// never with more requests in flight than WithConcurrency allows.
func TestPathInfosConcurrencyBound(t *testing.T) {
	fc := newFakeCache(t, "none")
	var leaves []string
	for i := range 40 {
		leaves = append(leaves, fc.add(fmt.Sprintf("leaf-%d", i), []byte{byte(i)}))
	}
	root := fc.add("root-1", []byte("root"), leaves...)
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(5 * time.Millisecond)
		return false
	})
	cl := newClient(t, fc.config(fc.serve()), WithConcurrency(4))
	got, err := cl.PathInfos(ctxT(t), []string{root})
	if err != nil || len(got) != 41 {
		t.Fatalf("PathInfos = %d infos, %v", len(got), err)
	}
	if m := fc.maxIn.Load(); m > 4 || m < 2 {
		t.Errorf("max requests in flight = %d, want 2..4", m)
	}
}

// TestPathInfosNarinfoSpellings: NarHash in base16 or SRI is normalised to
// sha256:<nix32> and still verifies; unknown keys are ignored as Nix does;
// doubled spaces in References are tolerated.
func TestPathInfosNarinfoSpellings(t *testing.T) {
	fc := newFakeCache(t, "none")
	dep := fc.add("dep-1", []byte("dep"))
	p := fc.add("p-1", []byte("p"), dep)
	digest, _ := nixbase32.DecodeString(strings.TrimPrefix(fc.paths[p].narHash, "sha256:"))
	fc.editNarinfo(p, func(s string) string {
		s = strings.Replace(s, fc.paths[p].narHash, "sha256:"+hex.EncodeToString(digest), 1)
		s = strings.Replace(s, "References: ", "References:  ", 1)
		return s + "FutureKey: something\n"
	})
	cl := newClient(t, fc.config(fc.serve()))
	got, err := cl.PathInfos(ctxT(t), []string{p})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got, sortedInfos(fc.info(p), fc.info(dep))) {
		t.Errorf("got %+v, want NarHash %s", got, fc.paths[p].narHash)
	}
	for _, in := range []string{"sha256-" + b64(digest), "sha256:" + hex.EncodeToString(digest), fc.paths[p].narHash} {
		if n, err := nixpath.NormalizeHash(in); err != nil || n != fc.paths[p].narHash {
			t.Errorf("nixpath.NormalizeHash(%s) = %s, %v", in, n, err)
		}
	}
	for _, bad := range []string{"sha1:" + strings.Repeat("0", 40), "sha256:" + strings.Repeat("0", 44), "sha256:xyz", "nohash"} {
		if _, err := nixpath.NormalizeHash(bad); err == nil {
			t.Errorf("NormalizeNarHash accepted %q", bad)
		}
	}
}

func TestPathInfosBadNarinfo(t *testing.T) {
	fc := newFakeCache(t, "none")
	cases := map[string]func(string) string{
		"wrong StorePath": func(s string) string {
			return strings.Replace(s, "StorePath: /nix/store/", "StorePath: /nix/store/0", 1)
		},
		"no NarHash":       func(s string) string { return dropLine(s, "NarHash: ") },
		"no URL":           func(s string) string { return dropLine(s, "URL: ") },
		"bad reference":    func(s string) string { return strings.Replace(s, "References:", "References: ../../etc", 1) },
		"md5 NarHash":      func(s string) string { return replaceLine(s, "NarHash: ", "NarHash: md5:"+strings.Repeat("0", 32)) },
		"garbage NarSize":  func(s string) string { return replaceLine(s, "NarSize: ", "NarSize: lots") },
		"zero NarSize":     func(s string) string { return replaceLine(s, "NarSize: ", "NarSize: 0") },
		"line without sep": func(s string) string { return s + "garbage\n" },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			p := fc.add("p-1", []byte(name))
			fc.editNarinfo(p, edit)
			cl := newClient(t, &Config{Substituters: []string{fc.fileURL()}, RequireSigs: false})
			_, err := cl.PathInfos(ctxT(t), []string{p})
			var ne *NarinfoError
			if !errors.As(err, &ne) || ne.Path != p || ne.Cache != fc.fileURL() {
				t.Errorf("err = %v, want *NarinfoError for %s", err, p)
			}
		})
	}
}

func dropLine(s, prefix string) string { return replaceLine(s, prefix, "") }

func replaceLine(s, prefix, with string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			l = with
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestPathInfosCacheInfo(t *testing.T) {
	p := newStorePath("p-1")
	t.Run("StoreDir mismatch", func(t *testing.T) {
		fc := newFakeCache(t, "none")
		fc.writeFile("nix-cache-info", "StoreDir: /gnu/store\n")
		_, err := newClient(t, fc.config(fc.fileURL())).PathInfos(ctxT(t), []string{p})
		var ce *CacheError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "/gnu/store") {
			t.Errorf("err = %v, want *CacheError about StoreDir", err)
		}
	})
	t.Run("http cache without nix-cache-info", func(t *testing.T) {
		fc := newFakeCache(t, "none")
		fc.removeFile("nix-cache-info")
		u := fc.serve()
		_, err := newClient(t, fc.config(u)).PathInfos(ctxT(t), []string{p})
		var ce *CacheError
		if !errors.As(err, &ce) || ce.Cache != u {
			t.Errorf("err = %v, want *CacheError for %s", err, u)
		}
	})
	t.Run("file cache without nix-cache-info", func(t *testing.T) {
		fc := newFakeCache(t, "none")
		fc.removeFile("nix-cache-info")
		q := fc.add("q-1", []byte("q"))
		if _, err := newClient(t, fc.config(fc.fileURL())).PathInfos(ctxT(t), []string{q}); err != nil {
			t.Error(err)
		}
	})
	t.Run("store dir option", func(t *testing.T) {
		fc := newFakeCache(t, "none")
		_, err := newClient(t, fc.config(fc.fileURL()), WithStoreDir("/gnu/store")).PathInfos(ctxT(t), []string{"/gnu/store/" + hashPart(p) + "-p-1"})
		var ce *CacheError
		if !errors.As(err, &ce) {
			t.Errorf("err = %v, want *CacheError (cache is for /nix/store)", err)
		}
	})
}

func (fc *fakeCache) removeFile(rel string) {
	fc.t.Helper()
	if err := removeIn(fc.dir, rel); err != nil {
		fc.t.Fatal(err)
	}
}

func TestPathInfosInvalidPath(t *testing.T) {
	fc := newFakeCache(t, "none")
	cl := newClient(t, fc.config(fc.fileURL()))
	for _, p := range []string{"relative", "/nix/store/short-x", "/nix/store/" + strings.Repeat("e", 32) + "-x", // e is not nix32
		"/nix/store/" + strings.Repeat("0", 32) + "-", "/nix/store/" + strings.Repeat("0", 32) + "-a/b", "/other/" + strings.Repeat("0", 32) + "-x"} {
		_, err := cl.PathInfos(ctxT(t), []string{p})
		var ie *InvalidPathError
		if !errors.As(err, &ie) || ie.Path != p {
			t.Errorf("%q: err = %v, want *InvalidPathError", p, err)
		}
	}
}

func TestPathInfosRetries(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", []byte("p"))
	var mu sync.Mutex
	failures := 2
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(r.URL.Path, ".narinfo") && failures > 0 {
			failures--
			if failures == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
			} else {
				http.Error(w, "oops", http.StatusBadGateway)
			}
			return true
		}
		return false
	})
	u := fc.serve()
	var logs []string
	var lmu sync.Mutex
	cl := newClient(t, fc.config(u), WithLogger(func(f string, a ...any) {
		lmu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		lmu.Unlock()
	}))
	if _, err := cl.PathInfos(ctxT(t), []string{p}); err != nil {
		t.Fatalf("after 2 transient failures: %v", err)
	}
	if n := fc.requestCount("/" + hashPart(p) + ".narinfo"); n != 3 {
		t.Errorf("narinfo requested %d times, want 3", n)
	}
	if len(logs) != 2 || !strings.Contains(logs[0], "HTTP 429") || !strings.Contains(logs[1], "HTTP 502") {
		t.Errorf("retry logs = %q", logs)
	}

	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	q := fc.add("q-1", []byte("q"))
	_, err := cl.PathInfos(ctxT(t), []string{q})
	var re *RequestError
	if !errors.As(err, &re) || re.Status != 503 || re.Attempts != 3 || re.Cache != u || !strings.Contains(re.URL, hashPart(q)+".narinfo") {
		t.Errorf("err = %v, want *RequestError 503 after 3 attempts naming cache and URL", err)
	}
}

func TestFingerprintMatchesGoNix(t *testing.T) {
	fc := newFakeCache(t, "xz")
	dep1, dep2 := fc.add("dep-1", []byte("1")), fc.add("dep-2", []byte("2"))
	p := fc.add("p-1", []byte("p"), dep2, dep1)
	text := readFile(t, fc.dir, hashPart(p)+".narinfo")
	ours, err := parseNarinfo([]byte(text), p, "/nix/store")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := narinfo.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if ours.fingerprint() != theirs.Fingerprint() {
		t.Errorf("fingerprint\n%s\ngo-nix\n%s", ours.fingerprint(), theirs.Fingerprint())
	}
	if !signature.VerifyFirst(theirs.Fingerprint(), theirs.Signatures, []signature.PublicKey{fc.pk}) {
		t.Error("go-nix does not verify the test signature")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	cfg := &Config{RequireSigs: true}
	for name, opt := range map[string]Option{
		"concurrency 0":    WithConcurrency(0),
		"concurrency 1000": WithConcurrency(1000),
		"timeout 0":        WithIdleTimeout(0),
		"header negative":  WithResponseHeaderTimeout(-time.Second),
		"connect 0":        WithConnectTimeout(0),
		"retries 11":       WithRetries(11, time.Millisecond, time.Second),
		"backoff inverted": WithRetries(1, time.Second, time.Millisecond),
		"nil transport":    WithTransport(nil),
		"nil logger":       WithLogger(nil),
		"relative xz":      WithXZCommand("xz"),
		"store dir slash":  WithStoreDir("/nix/store/"),
	} {
		if _, err := New(cfg, opt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil): no error")
	}
	if _, err := New(&Config{TrustedPublicKeys: []string{"bad"}}); err == nil {
		t.Error("bad key: no error")
	}
	if _, err := New(&Config{Substituters: []string{"https://x/?priority=high"}}); err == nil {
		t.Error("bad priority: no error")
	}
	c, err := New(&Config{Substituters: []string{"s3://bucket", "https://x/"}})
	if err != nil || !reflect.DeepEqual(c.Caches(), []string{"https://x"}) {
		t.Errorf("s3 not skipped: %v %v", c, err)
	}
}
