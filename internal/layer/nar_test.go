package layer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/wire"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

// dumpOpener serves the NAR of root+p, written by go-nix's NAR writer
// into a pipe while it is read.
func dumpOpener(root string) NAROpener {
	return func(_ context.Context, p string) (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(nar.DumpPath(pw, root+p)) }()
		return pr, nil
	}
}

// narBytes is the NAR of the host tree at h.
func narBytes(t testing.TB, h string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := nar.DumpPath(&buf, h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// stream is a NAR stream under test: it serves data (then ends with end,
// io.EOF if nil), counts the bytes read and records Close and any Read
// after it.
type stream struct {
	r         io.Reader
	end       error
	read      atomic.Int64
	closed    atomic.Bool
	afterShut atomic.Bool
}

func newStream(data []byte, end error) *stream {
	return &stream{r: bytes.NewReader(data), end: end}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.closed.Load() {
		s.afterShut.Store(true)
		return 0, errors.New("read after Close")
	}
	n, err := s.r.Read(p)
	s.read.Add(int64(n))
	if errors.Is(err, io.EOF) && s.end != nil {
		err = s.end
	}
	return n, err
}

func (s *stream) Close() error {
	s.closed.Store(true)
	return nil
}

// check fails the test unless the stream was closed and not read after.
func (s *stream) check(t testing.TB) {
	t.Helper()
	if !s.closed.Load() {
		t.Error("the NAR stream was not closed")
	}
	if s.afterShut.Load() {
		t.Error("the NAR stream was read after Close")
	}
}

// streamOpener serves s for every path.
func streamOpener(s io.ReadCloser) NAROpener {
	return func(context.Context, string) (io.ReadCloser, error) { return s, nil }
}

// buildBoth builds spec from root with DirSource and with NARSource and
// fails unless both layers have the same digest and diffID.
func buildBoth(t *testing.T, spec Spec, root string) {
	t.Helper()
	fromDir := build(t, spec, root, Options{TempDir: t.TempDir()})
	fromNAR, err := Build(context.Background(), registered(t, spec, root), NARSource{Open: dumpOpener(root)}, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Build from NAR: %v", err)
	}
	t.Cleanup(func() { fromNAR.Close() })
	readLayer(t, fromNAR)
	dd, _ := fromDir.DiffID()
	nd, _ := fromNAR.DiffID()
	if digestOf(t, fromDir) != digestOf(t, fromNAR) || dd != nd {
		t.Errorf("layer from NAR %s (diffID %s), from disk %s (diffID %s)", digestOf(t, fromNAR), nd, digestOf(t, fromDir), dd)
	}
}

// edgeStore has what a NAR can hold at its edges: single-file, empty-file
// and symlink store paths, empty directories, big files, deep paths, long
// names and targets, names with bytes below '/', and enough small files
// for the NAR's tokens to straddle the read buffer.
func edgeStore(t *testing.T) (root string, paths []string) {
	t.Helper()
	root = t.TempDir()
	tree, file, empty, link, edir := storePath('e', "tree"), storePath('f', "file.txt"), storePath('g', "empty"), storePath('h', "link"), storePath('i', "emptydir")
	random := make([]byte, 3<<20+5)
	rand.NewChaCha8([32]byte{9}).Read(random)
	mkfile(t, root, tree+"/big/random", string(random), 0o444)
	mkfile(t, root, tree+"/big/text", strings.Repeat("nix store layer\n", 5<<20/16), 0o555)
	for _, n := range []string{"lib/a", "lib-x", "lib.so", "lib\x01", "a\x01", "a/b", "a-b", "é", "new\nline", "\xff\xfe", strings.Repeat("n", 255)} {
		mkfile(t, root, tree+"/names/"+n, n, 0o644)
	}
	for i := range 700 {
		mkfile(t, root, fmt.Sprintf("%s/many/f%03d", tree, i), strings.Repeat("x", i*13%1000), 0o644|os.FileMode(i%2)*0o111)
	}
	mkfile(t, root, tree+"/"+strings.Repeat("d/", 300)+"end", "deep", 0o444)
	mkfile(t, root, tree+"/exec/user-only", "#!", 0o700)
	mkfile(t, root, tree+"/exec/empty", "", 0o755)
	mkdir(t, root, tree+"/emptydir", 0o700)
	mklink(t, root, tree+"/links/long", strings.Repeat("t", 4000))
	mklink(t, root, tree+"/links/dangling", "../nowhere")
	mkfile(t, root, file, "a single file\n", 0o555)
	mkfile(t, root, empty, "", 0o444)
	mklink(t, root, link, "relative/target")
	mkdir(t, root, edir, 0o555)
	return root, []string{tree, file, empty, link, edir}
}

// makeStore's tree minus what a NAR cannot hold: the setuid file and the
// sticky bit of share/.
func narMakeStore(t *testing.T) (root string, paths []string) {
	t.Helper()
	root, a, b, c := makeStore(t)
	if err := os.Remove(host(root, a+"/bin/suid")); err != nil {
		t.Fatal(err)
	}
	mkdir(t, root, a+"/share", 0o775)
	return root, []string{a, b, c}
}

func TestNARSourceBitIdentical(t *testing.T) {
	fixtures := map[string]func(*testing.T) (string, []string){
		"tricky": func(t *testing.T) (string, []string) {
			root, p := trickyStore(t)
			return root, []string{p}
		},
		"makeStore": narMakeStore,
		"edges":     edgeStore,
	}
	mode := os.FileMode(0o500)
	uid := 1000
	perms := []Perm{{Regexp: regexp.MustCompile(`/(bin|exec)/`), Mode: &mode, UID: &uid}}
	for name, fixture := range fixtures {
		t.Run(name, func(t *testing.T) {
			root, paths := fixture(t)
			for _, p := range paths {
				t.Run(p[44:], func(t *testing.T) { buildBoth(t, Spec{Paths: sp(p)}, root) })
			}
			buildBoth(t, Spec{Name: name, Paths: sp(paths...), Perms: perms,
				Files: []File{{Path: "/etc/os-release", Mode: 0o644, Data: []byte("ID=nix\n")}}}, root)
		})
	}
}

// Walking a NAR yields exactly what DirSource yields for the same tree,
// field by field (a digest comparison alone would not say what differs).
func TestNARSourceEntries(t *testing.T) {
	root, paths := edgeStore(t)
	type rec struct {
		Entry
		body string
	}
	collect := func(src Source, p string) []rec {
		var out []rec
		err := src.Walk(context.Background(), p, func(e *Entry) error {
			r := rec{Entry: *e}
			if e.Body != nil {
				b, err := io.ReadAll(e.Body)
				if err != nil {
					return err
				}
				r.body, r.Body = string(b), nil
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, p := range paths {
		got, want := collect(NARSource{Open: dumpOpener(root)}, p), collect(DirSource{root}, p)
		if !slices.Equal(got, want) {
			t.Errorf("%s: NAR and disk differ (%d and %d entries)", p, len(got), len(want))
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("first difference at %d: NAR %q %v %d %q, disk %q %v %d %q", i,
						got[i].Path, got[i].Mode, got[i].Size, got[i].Linkname, want[i].Path, want[i].Mode, want[i].Size, want[i].Linkname)
					break
				}
			}
		}
	}
}

type fakeMismatch struct{ path string }

func (e *fakeMismatch) Error() string { return "NAR hash mismatch for " + e.path }

// The stream's verdict at its end fails the layer: after a fully read
// last body, after a root that is a single file, and when fn reads no
// body at all (NARSource reads the rest itself).
func TestNARSourceVerificationError(t *testing.T) {
	root, paths := edgeStore(t)
	for _, p := range []string{paths[0], paths[1], paths[3]} {
		data := narBytes(t, root+p)
		t.Run("build "+p[44:], func(t *testing.T) {
			s := newStream(data, &fakeMismatch{p})
			tmp := t.TempDir()
			_, err := Build(context.Background(), Spec{Paths: sp(p)}, NARSource{Open: streamOpener(s)}, Options{TempDir: tmp})
			var fm *fakeMismatch
			if !errors.As(err, &fm) || fm.path != p || !strings.Contains(err.Error(), "store path "+p) {
				t.Errorf("Build error %v, want the stream's *fakeMismatch naming the store path", err)
			}
			dirEmpty(t, tmp)
			s.check(t)
		})
		t.Run("bodies unread "+p[44:], func(t *testing.T) {
			s := newStream(data, &fakeMismatch{p})
			err := NARSource{Open: streamOpener(s)}.Walk(context.Background(), p, func(*Entry) error { return nil })
			var fm *fakeMismatch
			if !errors.As(err, &fm) {
				t.Errorf("Walk error %v, want *fakeMismatch", err)
			}
			if s.read.Load() != int64(len(data)) {
				t.Errorf("read %d of %d bytes", s.read.Load(), len(data))
			}
			s.check(t)
		})
	}
}

// A body fn leaves unread, or half read, is skipped; one read after its
// fn returned fails rather than yield another file's bytes.
func TestNARSourceUnreadBodies(t *testing.T) {
	root, paths := edgeStore(t)
	want := walkOrder(t, DirSource{root}, paths[0])
	for _, part := range []int64{0, 1, 4096} {
		var got []string
		var kept []io.Reader
		err := NARSource{Open: dumpOpener(root)}.Walk(context.Background(), paths[0], func(e *Entry) error {
			got = append(got, e.Path)
			if len(kept) > 0 && e.Size > 0 {
				if n, err := kept[len(kept)-1].Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, io.EOF) {
					t.Errorf("reading the previous body within %s's fn: %d bytes, error %v", e.Path, n, err)
				}
			}
			if e.Body != nil {
				if _, err := io.CopyN(io.Discard, e.Body, min(part, e.Size)); err != nil {
					return err
				}
				kept = append(kept, e.Body)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("reading %d bytes of each body: %v", part, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("reading %d bytes of each body: entries\n%q\nwant\n%q", part, got, want)
		}
	}
}

func TestNARSourceTruncated(t *testing.T) {
	root, p := trickyStore(t)
	data := narBytes(t, root+p)
	for n := range len(data) {
		s := newStream(data[:n], nil)
		err := NARSource{Open: streamOpener(s)}.Walk(context.Background(), p, func(e *Entry) error {
			if e.Body != nil {
				_, err := io.Copy(io.Discard, e.Body)
				return err
			}
			return nil
		})
		if err == nil {
			t.Fatalf("a NAR cut to %d of %d bytes was accepted", n, len(data))
		}
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("cut to %d bytes: error %q does not name the store path", n, err)
		}
		s.check(t)
	}
	// Cut between two tokens (the last ")" takes 16 bytes), which go-nix
	// alone would take for the end of the NAR.
	tmp := t.TempDir()
	s := newStream(data[:len(data)-16], nil)
	if _, err := Build(context.Background(), Spec{Paths: sp(p)}, NARSource{Open: streamOpener(s)}, Options{TempDir: tmp}); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Build of a NAR without its last token: %v, want a truncated NAR (io.ErrUnexpectedEOF)", err)
	}
	dirEmpty(t, tmp)
}

// Bytes after the NAR make it another byte string than the NAR Nix
// hashed: the layer fails.
func TestNARSourceTrailingBytes(t *testing.T) {
	root, p := trickyStore(t)
	data := narBytes(t, root+p)
	for _, extra := range []string{"x", "\x00\x00\x00\x00\x00\x00\x00\x00", string(data)} {
		s := newStream(append(slices.Clip(data), extra...), nil)
		tmp := t.TempDir()
		_, err := Build(context.Background(), Spec{Paths: sp(p)}, NARSource{Open: streamOpener(s)}, Options{TempDir: tmp})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d bytes after the end of the NAR", len(extra))) {
			t.Errorf("%d trailing bytes: error %v", len(extra), err)
		}
		dirEmpty(t, tmp)
		s.check(t)
	}
}

// narOf encodes tokens as NAR strings after the magic, for hand-made NARs.
func narOf(tokens ...string) []byte {
	var b bytes.Buffer
	for _, s := range append([]string{"nix-archive-1"}, tokens...) {
		if err := wire.WriteString(&b, s); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

func dirOf(entries ...[]string) []string {
	out := []string{"(", "type", "directory"}
	for _, e := range entries {
		out = append(out, e...)
	}
	return append(out, ")")
}

func entryOf(name string, node ...string) []string {
	return append(append([]string{"entry", "(", "name", name, "node"}, node...), ")")
}

var regular = []string{"(", "type", "regular", "contents", "x", ")"}

// NARs that no store path can have fail the walk, whether go-nix or
// NARSource catches them.
func TestNARSourceMalformed(t *testing.T) {
	p := storePath('m', "bad")
	okLink := []string{"(", "type", "symlink", "target", "t", ")"}
	for name, data := range map[string][]byte{
		"bad magic":         append([]byte("nix-archive-2"), narOf("(")[24:]...),
		"slash in name":     narOf(dirOf(entryOf("a/b", regular...))...),
		"NUL in name":       narOf(dirOf(entryOf("a\x00", regular...))...),
		"empty name":        narOf(dirOf(entryOf("", regular...))...),
		"dot":               narOf(dirOf(entryOf(".", regular...))...),
		"dot dot":           narOf(dirOf(entryOf("..", regular...))...),
		"duplicate":         narOf(dirOf(entryOf("a", regular...), entryOf("a", okLink...))...),
		"unsorted":          narOf(dirOf(entryOf("b", regular...), entryOf("a", regular...))...),
		"empty node":        narOf(dirOf(entryOf("a", "(", "type", ")"))...),
		"empty root":        narOf("(", "type", ")"),
		"junk in dir":       narOf(dirOf([]string{"junk"}, entryOf("a", regular...))...),
		"unknown type":      narOf("(", "type", "fifo", ")"),
		"empty target":      narOf("(", "type", "symlink", "target", "", ")"),
		"NUL in target":     narOf("(", "type", "symlink", "target", "a\x00b", ")"),
		"bad padding":       bytes.Replace(narOf(regular...), []byte("x\x00\x00"), []byte("x\x00\x01"), 1),
		"no contents token": narOf("(", "type", "regular", "executable", "", "data", "x", ")"),
	} {
		s := newStream(data, nil)
		err := NARSource{Open: streamOpener(s)}.Walk(context.Background(), p, func(*Entry) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "store path "+p) {
			t.Errorf("%s: error %v, want one naming the store path", name, err)
		}
		s.check(t)
	}
	// The hand-made NARs are right apart from their faults.
	for _, good := range [][]byte{narOf(dirOf(entryOf("a", regular...), entryOf("b", okLink...))...), narOf(okLink...)} {
		if err := (NARSource{Open: streamOpener(newStream(good, nil))}).Walk(context.Background(), p, func(*Entry) error { return nil }); err != nil {
			t.Errorf("a well-formed hand-made NAR: %v", err)
		}
	}
}

// After fn fails, go-nix's parser goroutine exits and the stream is
// closed, never read again.
func TestNARSourceStopsCleanly(t *testing.T) {
	root, paths := edgeStore(t)
	data := narBytes(t, root+paths[0])
	boom := errors.New("boom")
	before := runtime.NumGoroutine()
	for i := range 50 {
		s := newStream(data, nil)
		n := 0
		err := NARSource{Open: streamOpener(s)}.Walk(context.Background(), paths[0], func(*Entry) error {
			if n++; n > i {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Walk returned %v, want fn's error", err)
		}
		s.check(t)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before+5 {
		t.Errorf("%d goroutines after 50 stopped walks, %d before", g, before)
	}
}

// stall serves data, then blocks until ctx is done, as a stalled HTTP
// body of a request made with ctx does.
type stall struct {
	*stream
	ctx context.Context
}

func (s *stall) Read(p []byte) (int, error) {
	n, err := s.stream.Read(p)
	if errors.Is(err, io.EOF) {
		<-s.ctx.Done()
		return n, s.ctx.Err()
	}
	return n, err
}

// Cancelling ctx stops Build promptly, mid-body or while the stream
// stalls, and closes the stream.
func TestNARSourceCancel(t *testing.T) {
	root, paths := edgeStore(t)
	data := narBytes(t, root+paths[0])
	t.Run("mid-body", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := newStream(data, nil)
		tmp := t.TempDir()
		hook := func(name string) {
			if strings.HasSuffix(name, "/big/random") {
				cancel()
			}
		}
		_, err := Build(ctx, Spec{Paths: sp(paths[0])}, NARSource{Open: streamOpener(s)}, Options{TempDir: tmp, testEntry: hook})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Build error %v, want context.Canceled", err)
		}
		if s.read.Load() > 1<<20 {
			t.Errorf("read %d bytes of the stream after the cancel at its start", s.read.Load())
		}
		dirEmpty(t, tmp)
		s.check(t)
	})
	t.Run("skipping a body", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := newStream(data, nil)
		err := NARSource{Open: streamOpener(s)}.Walk(ctx, paths[0], func(e *Entry) error {
			if strings.HasSuffix(e.Path, "/big/random") {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Walk error %v, want context.Canceled", err)
		}
		if s.read.Load() > 1<<20 {
			t.Errorf("read %d bytes of the stream after the cancel at its start", s.read.Load())
		}
		s.check(t)
	})
	t.Run("stalled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := &stall{stream: newStream(data[:len(data)/2], nil), ctx: ctx}
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := Build(ctx, Spec{Paths: sp(paths[0])}, NARSource{Open: streamOpener(s)}, Options{TempDir: t.TempDir()})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Build error %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Build took %v to stop", d)
		}
		s.check(t)
	})
	t.Run("before open", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		opened := false
		open := func(context.Context, string) (io.ReadCloser, error) { opened = true; return nil, errors.New("opened") }
		if err := (NARSource{Open: open}).Walk(ctx, paths[0], func(*Entry) error { return nil }); !errors.Is(err, context.Canceled) || opened {
			t.Errorf("Walk with a done ctx: %v (opened %v)", err, opened)
		}
	})
}

// An opener's failure is the walk's, naming the store path.
func TestNARSourceOpenError(t *testing.T) {
	p := storePath('o', "missing")
	missing := errors.New("not in any cache")
	open := func(_ context.Context, got string) (io.ReadCloser, error) {
		if got != p {
			t.Errorf("Open(%q), want %q", got, p)
		}
		return nil, missing
	}
	err := NARSource{Open: open}.Walk(context.Background(), p, func(*Entry) error { return nil })
	if !errors.Is(err, missing) || !strings.Contains(err.Error(), p) {
		t.Errorf("Walk error %v", err)
	}
}

// A Close error after a good walk fails it; after a failed walk the
// walk's own error wins.
func TestNARSourceCloseError(t *testing.T) {
	root, p := trickyStore(t)
	data := narBytes(t, root+p)
	closeErr := errors.New("close failed")
	open := func(context.Context, string) (io.ReadCloser, error) {
		return struct {
			io.Reader
			io.Closer
		}{bytes.NewReader(data), closerFunc(func() error { return closeErr })}, nil
	}
	if err := (NARSource{Open: open}).Walk(context.Background(), p, func(*Entry) error { return nil }); !errors.Is(err, closeErr) {
		t.Errorf("Walk error %v, want the Close error", err)
	}
	boom := errors.New("boom")
	if err := (NARSource{Open: open}).Walk(context.Background(), p, func(*Entry) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Walk error %v, want fn's error", err)
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// nixDump is the NAR that `nix-store --dump` writes of a store path; its
// end reports the command's failure, as a verifying stream's end would.
type nixDump struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	n      *atomic.Int64
	waited bool
}

func nixDumpOpener(nixStore string, n *atomic.Int64) NAROpener {
	return func(ctx context.Context, p string) (io.ReadCloser, error) {
		cmd := exec.CommandContext(ctx, nixStore, "--dump", p)
		cmd.Env = append(os.Environ(), nixfix.Env()...)
		d := &nixDump{cmd: cmd, stderr: &bytes.Buffer{}, n: n}
		cmd.Stderr = d.stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		d.ReadCloser = out
		return d, nil
	}
}

func (d *nixDump) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	d.n.Add(int64(n))
	if errors.Is(err, io.EOF) {
		d.waited = true
		if werr := d.cmd.Wait(); werr != nil {
			return n, fmt.Errorf("nix-store --dump: %v: %s", werr, d.stderr)
		}
	}
	return n, err
}

// Close stops the command if it did not finish (Wait closes the pipe).
func (d *nixDump) Close() error {
	if !d.waited {
		d.ReadCloser.Close()
		d.cmd.Wait()
	}
	return nil
}

// Every store path of a closure built by real Nix gives the same layer
// from `nix-store --dump` as from /nix/store on disk.
func TestNARSourceMatchesNix(t *testing.T) {
	testutil.Short(t)
	nixStore := testutil.RequireTool(t, "nix-store")
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 2, CudaSize: 300 << 10})
	app := fx.Build(t, "app")["app"]
	g, err := nixfix.Runner(t, fx.Dir).PathInfo(context.Background(), []string{app})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := g.Closure(app)
	if err != nil {
		t.Fatal(err)
	}
	var dumped atomic.Int64
	src := NARSource{Open: nixDumpOpener(nixStore, &dumped)}
	kinds := map[fs.FileMode]int{}
	for _, p := range paths {
		info, _ := g.Info(p)
		dumped.Store(0)
		err := src.Walk(context.Background(), p, func(e *Entry) error {
			kinds[e.Mode]++
			return nil
		})
		if err != nil || dumped.Load() != info.NarSize {
			t.Fatalf("%s: walk %v, read %d NAR bytes, Nix says %d", p, err, dumped.Load(), info.NarSize)
		}
		// The NAR hashes Nix registered: both builds check them.
		spec := Spec{Paths: []StorePath{{Path: p, NarHash: info.NarHash}}}
		fromDisk := build(t, spec, "", Options{TempDir: t.TempDir()})
		fromNAR, err := Build(context.Background(), spec, src, Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: Build from nix-store --dump: %v", p, err)
		}
		if digestOf(t, fromNAR) != digestOf(t, fromDisk) {
			t.Errorf("%s: layer from nix-store --dump %s, from /nix/store %s", p, digestOf(t, fromNAR), digestOf(t, fromDisk))
		}
		fromNAR.Close()
	}
	if len(paths) < 5 || kinds[fs.ModeSymlink|0o777] == 0 || kinds[0o555] == 0 || kinds[0o444] == 0 || kinds[fs.ModeDir|0o555] == 0 {
		t.Errorf("the closure (%d paths, entry modes %v) lacks a kind of entry", len(paths), kinds)
	}
	whole := Spec{Name: "closure"}
	for _, p := range paths {
		info, _ := g.Info(p)
		whole.Paths = append(whole.Paths, StorePath{Path: p, NarHash: info.NarHash})
	}
	fromDisk := build(t, whole, "", Options{TempDir: t.TempDir()})
	fromNAR, err := Build(context.Background(), whole, src, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer fromNAR.Close()
	if digestOf(t, fromNAR) != digestOf(t, fromDisk) {
		t.Errorf("closure layer from nix-store --dump %s, from /nix/store %s", digestOf(t, fromNAR), digestOf(t, fromDisk))
	}
}
