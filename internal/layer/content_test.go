package layer

import (
	"archive/tar"
	"os"
	"slices"
	"strings"
	"testing"
)

// makeStore creates a small fake store under a temp StoreRoot and returns the
// root and the three store paths.
func makeStore(t testing.TB) (root string, a, b, c string) {
	t.Helper()
	root = t.TempDir()
	a, b, c = storePath('0', "a"), storePath('1', "b.txt"), storePath('2', "c")
	mkfile(t, root, a+"/a/b", "b", 0o644)
	mkfile(t, root, a+"/a-c", "ac", 0o444)
	mkfile(t, root, a+"/bin/hello", "#!hello\n", 0o555)
	mkfile(t, root, a+"/bin/suid", "s", 0o755|os.ModeSetuid)
	mklink(t, root, a+"/share/link", "../bin/hello")
	mklink(t, root, a+"/share/outside", "/etc/passwd")
	mklink(t, root, a+"/share/dangling", "does-not-exist")
	if err := os.Link(host(root, a+"/bin/hello"), host(root, a+"/share/hard")); err != nil {
		t.Fatal(err)
	}
	mkdir(t, root, a+"/share", 0o775|os.ModeSticky)
	mkdir(t, root, a+"/bin", 0o555)
	mkdir(t, root, a+"/a", 0o750)
	mkdir(t, root, a, 0o555)
	mkfile(t, root, b, "bee", 0o444)
	mklink(t, root, c, a)
	return root, a, b, c
}

func TestTarContent(t *testing.T) {
	root, a, b, c := makeStore(t)
	tmp := t.TempDir()
	// Paths in arbitrary order and with a duplicate: the output must not care.
	built := build(t, Spec{Name: "base", Paths: sp(c, a, b, a)}, root, Options{TempDir: tmp})
	es := readLayer(t, built)

	ra, rb, rc := a[1:], b[1:], c[1:]
	want := []struct {
		name     string
		typ      byte
		mode     int64
		linkname string
		content  string
	}{
		{"nix/", tar.TypeDir, 0o755, "", ""},
		{"nix/store/", tar.TypeDir, 0o755, "", ""},
		{ra + "/", tar.TypeDir, 0o555, "", ""},
		{ra + "/a/", tar.TypeDir, 0o555, "", ""},
		{ra + "/a/b", tar.TypeReg, 0o444, "", "b"}, // NAR order: a directory's contents before its next sibling
		{ra + "/a-c", tar.TypeReg, 0o444, "", "ac"},
		{ra + "/bin/", tar.TypeDir, 0o555, "", ""},
		{ra + "/bin/hello", tar.TypeReg, 0o555, "", "#!hello\n"},
		{ra + "/bin/suid", tar.TypeReg, 0o4555, "", "s"},
		{ra + "/share/", tar.TypeDir, 0o1555, "", ""},
		{ra + "/share/dangling", tar.TypeSymlink, 0o777, "does-not-exist", ""},
		{ra + "/share/hard", tar.TypeReg, 0o555, "", "#!hello\n"}, // hardlink → full regular file
		{ra + "/share/link", tar.TypeSymlink, 0o777, "../bin/hello", ""},
		{ra + "/share/outside", tar.TypeSymlink, 0o777, "/etc/passwd", ""}, // never followed
		{rb, tar.TypeReg, 0o444, "", "bee"},
		{rc, tar.TypeSymlink, 0o777, a, ""}, // a store path that is itself a symlink
	}
	if len(es) != len(want) {
		t.Fatalf("got %d entries %q, want %d", len(es), names(es), len(want))
	}
	for i, w := range want {
		h := es[i].hdr
		if h.Name != w.name || h.Typeflag != w.typ || h.Mode != w.mode || h.Linkname != w.linkname || es[i].content != w.content {
			t.Errorf("entry %d = {%q %c %o %q %q}, want {%q %c %o %q %q}", i,
				h.Name, h.Typeflag, h.Mode, h.Linkname, es[i].content,
				w.name, w.typ, w.mode, w.linkname, w.content)
		}
		checkNormalized(t, h)
	}
}

// checkNormalized checks the fields that must be identical for every entry.
func checkNormalized(t *testing.T, h *tar.Header) {
	t.Helper()
	if h.ModTime.Unix() != 1 || h.ModTime.Nanosecond() != 0 {
		t.Errorf("%s: mtime %v, want Unix 1", h.Name, h.ModTime)
	}
	if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
		t.Errorf("%s: atime %v ctime %v, want none", h.Name, h.AccessTime, h.ChangeTime)
	}
	for _, k := range []string{"atime", "ctime", "mtime", "uname", "gname"} {
		if v, ok := h.PAXRecords[k]; ok {
			t.Errorf("%s: unexpected PAX record %s=%q", h.Name, k, v)
		}
	}
	if h.Uname != "" || h.Gname != "" || h.Devmajor != 0 || h.Devminor != 0 {
		t.Errorf("%s: uname %q gname %q dev %d,%d", h.Name, h.Uname, h.Gname, h.Devmajor, h.Devminor)
	}
	if h.Typeflag == tar.TypeLink {
		t.Errorf("%s: hardlink entry", h.Name)
	}
	if strings.HasPrefix(h.Name, "/") {
		t.Errorf("%s: absolute name", h.Name)
	}
	if len(h.Xattrs) != 0 {
		t.Errorf("%s: xattrs %v", h.Name, h.Xattrs)
	}
}

func TestUIDGIDDefaultRoot(t *testing.T) {
	root, a, _, _ := makeStore(t)
	if os.Getuid() == 0 {
		// Give the files a non-root owner so "uid 0" is not an accident.
		if err := os.Lchown(host(root, a+"/bin/hello"), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	es := readLayer(t, build(t, Spec{Paths: sp(a)}, root, Options{TempDir: t.TempDir()}))
	for _, e := range es {
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("%s: uid/gid %d/%d, want 0/0", e.hdr.Name, e.hdr.Uid, e.hdr.Gid)
		}
	}
}

func TestStrangeNames(t *testing.T) {
	root := t.TempDir()
	a := storePath('3', "names")
	long := strings.Repeat("l", 150)
	deep := strings.Repeat("d/", 100) + "end" // > 256 bytes: cannot be split for USTAR
	names := []string{"new\nline", "bad-\xff\xfe-utf8", long, "ünïcode", "tab\tand space"}
	for _, n := range names {
		mkfile(t, root, a+"/"+n, "content of "+n, 0o644)
	}
	mkfile(t, root, a+"/"+deep, "deep", 0o644)
	longTarget := strings.Repeat("t", 200)
	mklink(t, root, a+"/longlink", longTarget)

	es := readLayer(t, build(t, Spec{Paths: sp(a)}, root, Options{TempDir: t.TempDir()}))
	for _, n := range names {
		e := byName(t, es, a[1:]+"/"+n)
		if e.content != "content of "+n {
			t.Errorf("%q: content %q", n, e.content)
		}
		checkNormalized(t, e.hdr)
	}
	if e := byName(t, es, a[1:]+"/"+deep); e.content != "deep" {
		t.Errorf("deep file content %q", e.content)
	}
	if e := byName(t, es, a[1:]+"/longlink"); e.hdr.Linkname != longTarget {
		t.Errorf("long link target %q", e.hdr.Linkname)
	}
	got := names2(es)
	if !slices.IsSorted(got[2:]) {
		t.Errorf("entries not in byte order: %q", got)
	}
}

func names2(es []tarEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, strings.TrimSuffix(e.hdr.Name, "/"))
	}
	return out
}
