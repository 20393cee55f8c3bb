package layer

import (
	"archive/tar"
	"io/fs"
	"os"
	"regexp"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestFilesAndPerms(t *testing.T) {
	root, a, b, _ := makeStore(t)
	src := t.TempDir() + "/group"
	if err := os.WriteFile(src, []byte("root:x:0:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Name:  "root",
		Paths: sp(a, b),
		Files: []File{
			{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
			{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\n")},
			{Path: "/etc/group", Mode: 0o644, Source: src},
			{Path: "/bin", Mode: fs.ModeSymlink | 0o777, Linkname: a + "/bin"},
			{Path: "/home/user", Mode: fs.ModeDir | 0o700, UID: 1000, GID: 100},
			{Path: "/empty", Mode: 0o2600}, // Unix-style setgid bit
			{Path: "/nix/var/nix/db/db.sqlite", Mode: 0o644, Data: []byte("sqlite")},
		},
		Perms: []Perm{
			{Regexp: regexp.MustCompile(`^/nix/store/[^/]+-a/bin/`), Mode: ptr(fs.FileMode(0o500)), UID: ptr(7), GID: ptr(8)},
			// Unix-style setuid bit, later Perm wins over the earlier one.
			{Regexp: regexp.MustCompile(`/bin/hello$`), Mode: ptr(fs.FileMode(0o4711))},
			// Uid only; applies to a synthesized file, mode untouched.
			{Regexp: regexp.MustCompile(`^/etc/passwd$`), UID: ptr(42)},
			// Mode is not applied to symlinks.
			{Regexp: regexp.MustCompile(`^/bin$`), Mode: ptr(fs.FileMode(0o600))},
		},
	}
	es := readLayer(t, build(t, spec, root, Options{TempDir: t.TempDir()}))

	ra, rb := a[1:], b[1:]
	want := []struct {
		name           string
		typ            byte
		mode           int64
		uid, gid       int
		linkname, data string
	}{
		{"bin", tar.TypeSymlink, 0o777, 0, 0, a + "/bin", ""},
		{"empty", tar.TypeReg, 0o2600, 0, 0, "", ""},
		{"etc/", tar.TypeDir, 0o755, 0, 0, "", ""}, // implicit parent
		{"etc/group", tar.TypeReg, 0o644, 0, 0, "", "root:x:0:\n"},
		{"etc/passwd", tar.TypeReg, 0o644, 42, 0, "", "root:x:0:0::/root:/bin/sh\n"},
		{"home/", tar.TypeDir, 0o755, 0, 0, "", ""},
		{"home/user/", tar.TypeDir, 0o700, 1000, 100, "", ""},
		{"nix/", tar.TypeDir, 0o755, 0, 0, "", ""},
		{"nix/store/", tar.TypeDir, 0o755, 0, 0, "", ""},
		{ra + "/", tar.TypeDir, 0o555, 0, 0, "", ""},
		{ra + "/a/", tar.TypeDir, 0o555, 0, 0, "", ""},
		{ra + "/a/b", tar.TypeReg, 0o444, 0, 0, "", "b"},
		{ra + "/a-c", tar.TypeReg, 0o444, 0, 0, "", "ac"},
		{ra + "/bin/", tar.TypeDir, 0o555, 0, 0, "", ""}, // "…/bin" does not match "…/bin/"
		{ra + "/bin/hello", tar.TypeReg, 0o4711, 7, 8, "", "#!hello\n"},
		{ra + "/bin/suid", tar.TypeReg, 0o500, 7, 8, "", "s"},
		{ra + "/share/", tar.TypeDir, 0o1555, 0, 0, "", ""},
		{ra + "/share/dangling", tar.TypeSymlink, 0o777, 0, 0, "does-not-exist", ""},
		{ra + "/share/hard", tar.TypeReg, 0o555, 0, 0, "", "#!hello\n"},
		{ra + "/share/link", tar.TypeSymlink, 0o777, 0, 0, "../bin/hello", ""},
		{ra + "/share/outside", tar.TypeSymlink, 0o777, 0, 0, "/etc/passwd", ""},
		{rb, tar.TypeReg, 0o444, 0, 0, "", "bee"},
		{"nix/var/", tar.TypeDir, 0o755, 0, 0, "", ""},
		{"nix/var/nix/", tar.TypeDir, 0o755, 0, 0, "", ""},
		{"nix/var/nix/db/", tar.TypeDir, 0o755, 0, 0, "", ""},
		{"nix/var/nix/db/db.sqlite", tar.TypeReg, 0o644, 0, 0, "", "sqlite"},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0, "", ""},
	}
	if len(es) != len(want) {
		t.Fatalf("got %d entries %q, want %d", len(es), names(es), len(want))
	}
	for i, w := range want {
		h := es[i].hdr
		if h.Name != w.name || h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid ||
			h.Linkname != w.linkname || es[i].content != w.data {
			t.Errorf("entry %d = {%q %c %o %d:%d %q %q}, want {%q %c %o %d:%d %q %q}", i,
				h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, es[i].content,
				w.name, w.typ, w.mode, w.uid, w.gid, w.linkname, w.data)
		}
		checkNormalized(t, h)
	}
}

func TestFilesOverrideImplicitDirs(t *testing.T) {
	// An explicit /nix entry replaces the implicit one, in its place.
	spec := Spec{Files: []File{
		{Path: "/nix", Mode: fs.ModeDir | 0o700, UID: 5},
		{Path: "/a", Mode: 0o644},
	}}
	es := readLayer(t, build(t, spec, "", Options{TempDir: t.TempDir()}))
	got := names(es)
	want := []string{"a", "nix/", "nix/store/"}
	if len(got) != len(want) {
		t.Fatalf("entries %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entries %q, want %q", got, want)
		}
	}
	if h := es[1].hdr; h.Mode != 0o700 || h.Uid != 5 {
		t.Errorf("/nix: mode %o uid %d, want 0700 uid 5", h.Mode, h.Uid)
	}
}

func TestStoreDirOption(t *testing.T) {
	root := t.TempDir()
	p := "/gnu/store/" + "0123456789abcdfghijklmnpqrsvwxyz" + "-x"
	mkfile(t, root, p, "x", 0o644)
	es := readLayer(t, build(t, Spec{Paths: sp(p), StoreDir: "/gnu/store"}, root, Options{TempDir: t.TempDir()}))
	got := names(es)
	if len(got) != 3 || got[0] != "gnu/" || got[1] != "gnu/store/" || got[2] != p[1:] {
		t.Errorf("entries %q", got)
	}
}
