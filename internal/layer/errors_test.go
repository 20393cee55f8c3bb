package layer

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUnsupportedFiles(t *testing.T) {
	// A short root keeps the socket path under the 108-byte sun_path limit.
	root, err := os.MkdirTemp("", "ls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })

	fifoPkg := storePath('6', "fifo")
	mkfile(t, root, fifoPkg+"/a", "a", 0o644)
	if err := syscall.Mkfifo(host(root, fifoPkg+"/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	sockPkg := storePath('7', "s")
	mkdir(t, root, sockPkg, 0o755)
	l, err := net.Listen("unix", host(root, sockPkg+"/sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for _, tc := range []struct {
		pkg, file string
		mode      fs.FileMode
	}{
		{fifoPkg, "/pipe", fs.ModeNamedPipe},
		{sockPkg, "/sock", fs.ModeSocket},
	} {
		tmp := t.TempDir()
		b, err := Build(context.Background(), Spec{Paths: sp(tc.pkg)}, DirSource{root}, Options{TempDir: tmp})
		if err == nil {
			b.Close()
			t.Fatalf("%s: Build succeeded", tc.file)
		}
		var ue *UnsupportedFileError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: error %v is not *UnsupportedFileError", tc.file, err)
		}
		if ue.Path != host(root, tc.pkg+tc.file) || ue.Mode&tc.mode == 0 {
			t.Errorf("UnsupportedFileError{%q, %v}, want path %q with %v", ue.Path, ue.Mode, host(root, tc.pkg+tc.file), tc.mode)
		}
		dirEmpty(t, tmp)
	}
}

func TestMissingStorePath(t *testing.T) {
	root := t.TempDir()
	p := storePath('8', "gone")
	tmp := t.TempDir()
	_, err := Build(context.Background(), Spec{Paths: sp(p)}, DirSource{root}, Options{TempDir: tmp})
	if err == nil {
		t.Fatal("Build succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), host(root, p)) || !strings.Contains(err.Error(), " "+p+" ") {
		t.Errorf("error %q should wrap ErrNotExist and name store path %s and host path %s", err, p, host(root, p))
	}
	dirEmpty(t, tmp)
}

func TestInvalidSpecs(t *testing.T) {
	root, a, _, _ := makeStore(t)
	src := t.TempDir() + "/src"
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spec  Spec
		wants []string
	}{
		{"duplicate files", Spec{Files: []File{
			{Path: "/etc/passwd", Mode: 0o644, Data: []byte("a")},
			{Path: "/etc/group", Mode: 0o644},
			{Path: "/etc/passwd", Mode: 0o600, Source: src},
		}}, []string{"duplicate", "/etc/passwd", "files[0]", "files[2]"}},
		{"file collides with store", Spec{Paths: sp(a), Files: []File{
			{Path: a + "/bin/hello", Mode: 0o644},
		}}, []string{"duplicate", a + "/bin/hello", "store path " + a, "files[0]"}},
		{"below a symlink", Spec{Files: []File{
			{Path: "/bin", Mode: fs.ModeSymlink | 0o777, Linkname: "usr/bin"},
			{Path: "/bin/sh", Mode: 0o755, Data: []byte("#!")},
		}}, []string{"/bin", "not a directory", "/bin/sh"}},
		{"relative path", Spec{Files: []File{{Path: "etc/x", Mode: 0o644}}}, []string{"etc/x", "absolute"}},
		{"unclean path", Spec{Files: []File{{Path: "/etc/../x", Mode: 0o644}}}, []string{"/etc/../x"}},
		{"symlink without target", Spec{Files: []File{{Path: "/x", Mode: fs.ModeSymlink}}}, []string{"/x", "linkname"}},
		{"data and source", Spec{Files: []File{{Path: "/x", Data: []byte("a"), Source: src}}}, []string{"/x", "both"}},
		{"missing source", Spec{Files: []File{{Path: "/x", Source: src + "-no"}}}, []string{"/x", src + "-no"}},
		{"device file", Spec{Files: []File{{Path: "/dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice}}}, []string{"/dev/null", "char device"}},
		{"nil perm regexp", Spec{Perms: []Perm{{}}}, []string{"perms[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			b, err := Build(context.Background(), tc.spec, DirSource{root}, Options{TempDir: tmp})
			if err == nil {
				b.Close()
				t.Fatal("Build succeeded")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			dirEmpty(t, tmp)
		})
	}
}

// Cancelling stops a build promptly in every format, removes its file,
// and leaves no compression goroutine behind.
func TestCancel(t *testing.T) {
	root, p := makeMultiBlockStore(t)
	before := runtime.NumGoroutine()
	for _, f := range []Format{DefaultFormat, ZstdFormat, ZstdChunkedFormat} {
		testCancel(t, root, p, f)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after the cancelled builds, %d before", g, before)
	}
}

func testCancel(t *testing.T, root, p string, f Format) {
	for _, at := range []string{p + "/fc", p} { // mid-stream, and the first store entry
		tmp := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		seen := 0
		opts := Options{TempDir: tmp, testEntry: func(name string) {
			seen++
			if name == at {
				cancel()
			}
		}}
		b, err := Build(ctx, Spec{Paths: sp(p), Format: f}, DirSource{root}, opts)
		cancel()
		if err == nil {
			b.Close()
			t.Fatalf("%s: cancel at %s: Build succeeded", f.Compression, at)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancel at %s: error %v, want context.Canceled", f.Compression, at, err)
		}
		if seen == 0 || seen > 16 {
			t.Errorf("%s: cancel at %s: %d entries visited; the build did not stop promptly", f.Compression, at, seen)
		}
		dirEmpty(t, tmp)
	}

	// Already cancelled: nothing is created.
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, Spec{Paths: sp(p), Format: f}, DirSource{root}, Options{TempDir: tmp}); !errors.Is(err, context.Canceled) {
		t.Errorf("pre-cancelled: error %v", err)
	}
	dirEmpty(t, tmp)
}

func TestBuiltClose(t *testing.T) {
	root, a, _, _ := makeStore(t)
	tmp := t.TempDir()
	b, err := Build(context.Background(), registered(t, Spec{Name: "n", Paths: sp(a)}, root), DirSource{root}, Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	readLayer(t, b)
	readLayer(t, b) // Compressed reopens the file each time
	if _, err := os.Stat(b.Path()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	dirEmpty(t, tmp)
	if _, err := b.Compressed(); !errors.Is(err, ErrClosed) {
		t.Errorf("Compressed after Close: %v", err)
	}
	if _, err := b.Uncompressed(); !errors.Is(err, ErrClosed) {
		t.Errorf("Uncompressed after Close: %v", err)
	}
}

func TestFormat(t *testing.T) {
	if got, want := DefaultFormat.String(), "tar-v2;gzip=pgzip;level=6;block=1048576"; got != want {
		t.Errorf("DefaultFormat = %q, want %q", got, want)
	}
	for _, f := range []Format{{Compression: "lz4", Level: 6, BlockSize: 1 << 20}, {Compression: Gzip, Level: 0, BlockSize: 1 << 20}, {Compression: Gzip, Level: 6, BlockSize: 10}} {
		if f.Validate() == nil {
			t.Errorf("format %+v accepted", f)
		}
	}
}
