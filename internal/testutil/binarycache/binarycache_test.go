package binarycache_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/substituter"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/binarycache"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

var benchCudaMiB = flag.Int("binarycache.cudamib", 64, "size of the fixture's cuda blob in MiB for the benchmarks")

// smallFixture is the default fixture: 8 paths, a 64 KiB cuda blob.
func smallFixture(t testing.TB) *binarycache.Fixture {
	return binarycache.BuildFixture(t, nixfix.Options{Packages: 2, CudaSize: 64 << 10})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func client(t testing.TB, c *binarycache.Cache, url string, extra ...substituter.Option) *substituter.Client {
	t.Helper()
	cfg := &substituter.Config{Substituters: []string{url}, TrustedPublicKeys: []string{c.Key.Public}, RequireSigs: true}
	cl, err := substituter.New(cfg, append([]substituter.Option{substituter.WithLogger(t.Logf)}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func trustConfig(c *binarycache.Cache, url string) []string {
	return []string{"substituters = " + url, "trusted-public-keys = " + c.Key.Public}
}

func TestParseAccessLog(t *testing.T) {
	reqs, err := binarycache.ParseAccessLog(strings.NewReader(
		"GET /nix-cache-info 200 21 272\n" +
			"HEAD /7nzcjpi37hlayaa1fy09jad758p1pvp4.narinfo 200 0 247\n" +
			"GET /7nzcjpi37hlayaa1fy09jad758p1pvp4.narinfo 200 528 775\n" +
			"GET /nar/0v20y8dixvnmrfd77n9i2i4x8mdy71jqbycpl381n3a4ymp9cdav.nar.xz 200 256 500\n" +
			"GET /nar/x.nar?foo=1 206 10 100\n\n" +
			"GET /missing.narinfo 404 153 306\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := binarycache.Summarize(reqs)
	want := binarycache.Traffic{NarinfoRequests: 3, NarinfoBytes: 528 + 153, NARRequests: 2, NARBytes: 266, OtherRequests: 1, OtherBytes: 21}
	if got != want {
		t.Errorf("Summarize = %v\nwant        %v", got, want)
	}
	if reqs[1].Method != "HEAD" || reqs[5].Status != 404 || reqs[3].Bytes != 500 {
		t.Errorf("parsed %+v", reqs)
	}
	for _, bad := range []string{"GET / 200 1\n", "GET / abc 1 2\n"} {
		if _, err := binarycache.ParseAccessLog(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestFreshStore: a path valid in the host store is invalid in a fresh
// store; substituting its closure from the nginx cache makes it valid
// there, downloads every NAR exactly once (bytes = the narinfos'
// FileSize) and leaves the host store alone.
func TestFreshStore(t *testing.T) {
	fx := smallFixture(t)
	app := fx.Attrs["app"]
	appClosure := binarycache.ClosureOf(t, app)
	c := binarycache.NewCache(t, fx.Roots, binarycache.CacheOptions{})
	srv := binarycache.Serve(t, c.Dir)
	fresh := binarycache.NewFreshStore(t)

	if r := binarycache.Nix(t, nil, "path-info", app); r.Err != nil {
		t.Fatalf("host: %s not valid: %v %s", app, r.Err, r.Stderr)
	}
	r := fresh.Run(t, nil, "nix", "path-info", app)
	if r.Err == nil || !strings.Contains(r.Stderr, "is not valid") {
		t.Fatalf("fresh store: path-info %s = %v %q, want 'is not valid'", app, r.Err, r.Stderr)
	}

	before := len(srv.Requests(t))
	r = fresh.Run(t, trustConfig(c, srv.URL), "nix", "copy", "--from", srv.URL, app)
	if r.Err != nil {
		t.Fatalf("nix copy --from %s: %v\n%s", srv.URL, r.Err, r.Stderr)
	}
	if r := fresh.Run(t, nil, "nix", "path-info", "-r", app); r.Err != nil || strings.Fields(r.Stdout) == nil {
		t.Fatalf("after copy: %v %s", r.Err, r.Stderr)
	}
	if got := fresh.StorePaths(t); !reflect.DeepEqual(got, appClosure) {
		t.Errorf("fresh store holds %q, want the closure %q", got, appClosure)
	}
	tr := binarycache.Summarize(srv.Requests(t)[before:])
	var fileBytes int64
	for _, p := range appClosure {
		n, _ := strconv.ParseInt(c.Field(t, p, "FileSize"), 10, 64)
		fileBytes += n
	}
	t.Logf("nix copy --from nginx into a fresh store, %d paths: %v", len(appClosure), tr)
	if tr.NARRequests != len(appClosure) || tr.NARBytes != fileBytes {
		t.Errorf("NAR traffic %d requests / %d bytes, want %d / %d (sum of FileSize)", tr.NARRequests, tr.NARBytes, len(appClosure), fileBytes)
	}
	nixfix.StorePathsExist(t, appClosure...) // the host store is untouched
}

// TestNixPathInfoMatchesSubstituter: Nix 2.8's `nix path-info --json -r
// --store http://…` reads the closure metadata from narinfos without
// downloading a NAR, and substituter.PathInfos returns the same paths,
// NarHash (after normalisation), NarSize and references — also equal to
// the host store's own path-info.
func TestNixPathInfoMatchesSubstituter(t *testing.T) {
	fx := smallFixture(t)
	c := binarycache.NewCache(t, fx.Roots, binarycache.CacheOptions{})
	srv := binarycache.Serve(t, c.Dir)

	fromNix := normalize(t, binarycache.PathInfosFromStore(t, srv.URL, fx.Roots...))
	afterNix := srv.Requests(t)
	nixTraffic := binarycache.Summarize(afterNix)
	t.Logf("nix path-info --store %s: %v", srv.URL, nixTraffic)
	if nixTraffic.NARRequests != 0 || nixTraffic.NarinfoRequests < len(fx.Closure) {
		t.Errorf("nix path-info traffic: %v; want no NAR and >= %d narinfo requests", nixTraffic, len(fx.Closure))
	}

	cl := client(t, c, srv.URL)
	raw, err := cl.PathInfos(ctxT(t), fx.Roots)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range raw {
		if n, _ := nixpath.NormalizeHash(in.NarHash); n != in.NarHash {
			t.Errorf("%s: NarHash %q is not in the canonical spelling", in.Path, in.NarHash)
		}
	}
	ours := normalize(t, raw)
	ourTraffic := binarycache.Summarize(srv.Requests(t)[len(afterNix):])
	t.Logf("substituter.PathInfos: %v; client stats %+v", ourTraffic, cl.Stats()[0])
	if ourTraffic.NARRequests != 0 || ourTraffic.NarinfoRequests != len(fx.Closure) {
		t.Errorf("PathInfos traffic: %v; want exactly %d narinfo requests and no NAR", ourTraffic, len(fx.Closure))
	}
	if !reflect.DeepEqual(ours, fromNix) {
		t.Errorf("substituter.PathInfos differs from nix path-info --store:\n%+v\n%+v", ours, fromNix)
	}
	if host := normalize(t, binarycache.HostPathInfos(t, fx.Roots...)); !reflect.DeepEqual(ours, host) {
		t.Errorf("substituter.PathInfos differs from the host store:\n%+v\n%+v", ours, host)
	}
}

// normalize sorts infos by path, sorts references and puts NarHash in the
// canonical sha256:<nix32> spelling.
func normalize(t testing.TB, in []closure.PathInfo) []closure.PathInfo {
	t.Helper()
	g, err := closure.NewGraph(in)
	if err != nil {
		t.Fatal(err)
	}
	var out []closure.PathInfo
	for _, p := range g.Paths() {
		info, _ := g.Info(p)
		h, err := nixpath.NormalizeHash(info.NarHash)
		if err != nil {
			t.Fatal(err)
		}
		info.NarHash = h
		out = append(out, info)
	}
	return out
}

// TestOpenNARMatchesDump: for each compression, the decompressed NAR that
// OpenNAR streams from nginx equals `nix-store --dump` of the realised path
// byte for byte, and the client's wire-byte count equals what nginx sent.
func TestOpenNARMatchesDump(t *testing.T) {
	fx := smallFixture(t)
	key := binarycache.GenerateKey(t, "test-cache-1")
	// br is left to the unit tests: nix copy compresses it slowly (5s here).
	for _, comp := range []string{"xz", "zstd", "none", "bzip2"} {
		t.Run(comp, func(t *testing.T) {
			c := binarycache.NewCache(t, fx.Roots, binarycache.CacheOptions{Compression: comp, Key: &key})
			if got := c.Field(t, fx.Attrs["cuda"], "Compression"); got != comp {
				t.Fatalf("narinfo Compression = %q, want %q", got, comp)
			}
			srv := binarycache.Serve(t, c.Dir)
			cl := client(t, c, srv.URL)
			for _, p := range fx.Closure {
				if got, want := openAll(t, cl, p), binarycache.DumpNAR(t, p); !bytes.Equal(got, want) {
					t.Errorf("%s: OpenNAR gave %d bytes, nix-store --dump %d, not equal", p, len(got), len(want))
				}
			}
			tr := binarycache.Summarize(srv.Requests(t))
			st := cl.Stats()[0]
			t.Logf("%s: nginx %v; client %+v", comp, tr, st)
			if st.NARWireBytes != tr.NARBytes || int(st.NARRequests) != tr.NARRequests || tr.NARRequests != len(fx.Closure) {
				t.Errorf("client counted %d wire bytes in %d NARs, nginx sent %d in %d", st.NARWireBytes, st.NARRequests, tr.NARBytes, tr.NARRequests)
			}
		})
	}
	t.Run("file URL", func(t *testing.T) {
		c := binarycache.NewCache(t, fx.Roots, binarycache.CacheOptions{Key: &key})
		cl := client(t, c, c.FileURL())
		p := fx.Attrs["cuda"]
		if !bytes.Equal(openAll(t, cl, p), binarycache.DumpNAR(t, p)) {
			t.Error("file:// OpenNAR differs from nix-store --dump")
		}
	})
}

func openAll(t testing.TB, cl *substituter.Client, p string) []byte {
	t.Helper()
	rc, err := cl.OpenNAR(ctxT(t), p)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return data
}

// TestCacheDamage: the corruption helpers break a cache the way both Nix
// and the substituter notice: a flipped NAR byte, a deleted narinfo, a
// stripped signature.
func TestCacheDamage(t *testing.T) {
	fx := smallFixture(t)
	key := binarycache.GenerateKey(t, "test-cache-1")
	// Two caches, so that each damage is the only one on its closure.
	a := binarycache.NewCache(t, fx.Roots, binarycache.CacheOptions{Compression: "none", Key: &key})
	b := binarycache.NewCache(t, fx.Roots, binarycache.CacheOptions{Key: &key})
	cuda, pak1, lib := fx.Attrs["cuda"], fx.Attrs["pak1"], fx.Attrs["libshared"]
	a.CorruptNAR(t, cuda)
	a.DeleteNarinfo(t, pak1)
	b.StripSignatures(t, lib)
	srvA, srvB := binarycache.Serve(t, a.Dir), binarycache.Serve(t, b.Dir)
	clA, clB := client(t, a, srvA.URL), client(t, b, srvB.URL)

	rc, err := clA.OpenNAR(ctxT(t), cuda)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	var hm *substituter.HashMismatchError
	if !errors.As(err, &hm) || hm.Path != cuda || hm.Cache != srvA.URL {
		t.Errorf("corrupt NAR: err = %v, want *HashMismatchError for %s from %s", err, cuda, srvA.URL)
	}
	_, err = clA.PathInfos(ctxT(t), []string{pak1})
	var me *substituter.MissingError
	if !errors.As(err, &me) || !reflect.DeepEqual(me.Paths, []string{pak1}) {
		t.Errorf("deleted narinfo: err = %v, want *MissingError{%s}", err, pak1)
	}
	_, err = clB.PathInfos(ctxT(t), []string{lib})
	var se *substituter.SignatureError
	if !errors.As(err, &se) || se.Path != lib || se.Cache != srvB.URL {
		t.Errorf("stripped signature: err = %v, want *SignatureError for %s", err, lib)
	}

	// Nix agrees on each.
	for _, tc := range []struct {
		c         *binarycache.Cache
		url, path string
		stderr    string
	}{
		{a, srvA.URL, cuda, "hash mismatch"},
		// Nix 2.8 says "lacks a valid signature", 2.26 and 2.34 "lacks a
		// signature by a trusted key".
		{b, srvB.URL, lib, "lacks a"},
	} {
		fresh := binarycache.NewFreshStore(t)
		r := fresh.Run(t, trustConfig(tc.c, tc.url), "nix", "copy", "--from", tc.url, tc.path)
		if r.Err == nil || !strings.Contains(r.Stderr, tc.stderr) || tc.stderr == "lacks a" && !strings.Contains(r.Stderr, "signature") {
			t.Errorf("nix copy of damaged %s: %v %q, want failure mentioning %q", tc.path, r.Err, r.Stderr, tc.stderr)
		}
	}
	if r := binarycache.Nix(t, nil, "path-info", "--store", srvA.URL, pak1); r.Err == nil {
		t.Errorf("nix path-info --store finds %s after DeleteNarinfo", pak1)
	}
}

// BenchmarkClosureFromCache fetches the whole fixture closure from nginx
// (xz cache): the substituter (metadata, then every NAR decompressed and
// verified; pure-Go xz and xz -d) against `nix copy --from` into a fresh
// store. -binarycache.cudamib sets the size of the (very compressible)
// cuda blob.
func BenchmarkClosureFromCache(b *testing.B) {
	fx := binarycache.BuildFixture(b, nixfix.Options{Packages: 2, CudaSize: int64(*benchCudaMiB) << 20})
	c := binarycache.NewCache(b, fx.Roots, binarycache.CacheOptions{})
	srv := binarycache.Serve(b, c.Dir)
	var narBytes int64
	for _, in := range binarycache.HostPathInfos(b, fx.Roots...) {
		narBytes += in.NarSize
	}
	fetch := func(b *testing.B, opts ...substituter.Option) {
		b.SetBytes(narBytes)
		for b.Loop() {
			cl := client(b, c, srv.URL, opts...)
			infos, err := cl.PathInfos(context.Background(), fx.Roots)
			if err != nil {
				b.Fatal(err)
			}
			for _, in := range infos {
				rc, err := cl.OpenNAR(context.Background(), in.Path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		}
	}
	b.Run("substituter-go-xz", func(b *testing.B) { fetch(b) })
	b.Run("substituter-xz-command", func(b *testing.B) { fetch(b, substituter.WithXZCommand(testutil.RequireTool(b, "xz"))) })
	b.Run("nix-copy-fresh-store", func(b *testing.B) {
		b.SetBytes(narBytes)
		for b.Loop() {
			fresh := binarycache.NewFreshStore(b)
			if r := fresh.Run(b, trustConfig(c, srv.URL), append([]string{"nix", "copy", "--from", srv.URL}, fx.Roots...)...); r.Err != nil {
				b.Fatal(r.Err, r.Stderr)
			}
		}
	})
	tr := binarycache.Summarize(srv.Requests(b))
	b.Logf("%d paths, %d NAR bytes; nginx over all runs: %v", len(fx.Closure), narBytes, tr)
}

// TestOpenNARResumesCutTransfer: a cache (nginx) whose connection is
// closed halfway through a NAR once: the transfer is resumed with a Range
// request (nginx serves ranges for static files), or, from a cache that
// offers no ranges, fetched whole again with what was read skipped; either
// way the bytes equal `nix-store --dump` (the NAR hash and size are checked
// on the joined stream). Cut every time, it fails after the bounded
// resumes, saying so.
func TestOpenNARResumesCutTransfer(t *testing.T) {
	fx := binarycache.BuildFixture(t, nixfix.Options{Packages: 1, CudaSize: 256 << 10})
	key := binarycache.GenerateKey(t, "test-cache-1")
	p := fx.Attrs["cuda"]
	want := binarycache.DumpNAR(t, p)
	for _, comp := range []string{"none", "xz"} {
		c := binarycache.NewCache(t, fx.Roots, binarycache.CacheOptions{Compression: comp, Key: &key})
		srv := binarycache.Serve(t, c.Dir)
		for _, noRanges := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, ranges %v", comp, !noRanges), func(t *testing.T) {
				before := len(srv.Requests(t))
				cut := binarycache.Cut(t, srv.URL, binarycache.CutOptions{NoRanges: noRanges})
				cl := client(t, c, cut.URL)
				if got := openAll(t, cl, p); !bytes.Equal(got, want) {
					t.Fatalf("resumed NAR: %d bytes, nix-store --dump %d, not equal", len(got), len(want))
				}
				ranges := cut.NARRanges()
				if cut.Cuts() != 1 || len(ranges) != 2 || ranges[0] != "" {
					t.Fatalf("cuts %d, NAR requests with Range headers %q; want 1 cut and one resume", cut.Cuts(), ranges)
				}
				switch {
				case noRanges && ranges[1] != "":
					t.Errorf("asked for a range (%q) although the cache offers none", ranges[1])
				case !noRanges && !strings.HasPrefix(ranges[1], "bytes=") || !noRanges && ranges[1] == "bytes=0-":
					t.Errorf("resumed with Range %q, want bytes=<received>-", ranges[1])
				}
				var partial int
				for _, r := range srv.Requests(t)[before:] {
					if r.Kind() == "nar" && r.Status == http.StatusPartialContent {
						partial++
					}
				}
				if (partial == 1) == noRanges {
					t.Errorf("nginx served %d partial answers (206)", partial)
				}
			})
		}
		t.Run(comp+", cut every time", func(t *testing.T) {
			cut := binarycache.Cut(t, srv.URL, binarycache.CutOptions{Times: -1})
			cl := client(t, c, cut.URL, substituter.WithRetries(2, 10*time.Millisecond, 50*time.Millisecond))
			rc, err := cl.OpenNAR(ctxT(t), p)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			var ne *substituter.NARError
			if !errors.As(err, &ne) || !strings.Contains(err.Error(), "after 2 resumes") || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want a NARError naming the path and the 2 resumes", err)
			}
			if cut.Cuts() != 3 {
				t.Errorf("%d transfers, want 3 (1 + 2 resumes)", cut.Cuts())
			}
			t.Logf("cut every time: %v", err)
		})
	}
}
