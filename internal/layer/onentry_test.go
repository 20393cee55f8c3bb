package layer

import (
	"io/fs"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// OnEntry sees every entry the tar stream holds, in order, with the name,
// type, permission bits (perms applied) and symlink target the tar header
// carries: what the pipeline's config check learns from a build.
func TestOnEntryReportsWhatIsWritten(t *testing.T) {
	root, a, b, _ := makeStore(t)
	spec := Spec{
		Paths: sp(a, b),
		Files: []File{
			{Path: "/bin", Mode: fs.ModeSymlink | 0o777, Linkname: a + "/bin"},
			{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/bin/sh\n")},
		},
		Perms: []Perm{{Regexp: regexp.MustCompile(`/bin/hello$`), Mode: ptr(fs.FileMode(0o700))}},
	}
	type seen struct {
		path string
		mode fs.FileMode
		link string
	}
	var mu sync.Mutex
	var got []seen
	opts := Options{TempDir: t.TempDir(), OnEntry: func(p string, m fs.FileMode, link string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{p, m, link})
	}}
	es := readLayer(t, build(t, spec, root, opts))
	if len(got) != len(es) {
		t.Fatalf("OnEntry saw %d entries, the layer has %d (%q)", len(got), len(es), names(es))
	}
	for i, e := range es {
		h := e.hdr
		want := "/" + strings.TrimSuffix(h.Name, "/")
		info := h.FileInfo()
		if got[i].path != want || got[i].mode != info.Mode() || got[i].link != h.Linkname {
			t.Errorf("entry %d: OnEntry saw %q %v %q, the tar has %q %v %q", i, got[i].path, got[i].mode, got[i].link, want, info.Mode(), h.Linkname)
		}
	}
	hello := byName(t, es, a[1:]+"/bin/hello")
	if hello.hdr.Mode != 0o700 {
		t.Fatalf("perm not applied in the tar: %o", hello.hdr.Mode)
	}
}
