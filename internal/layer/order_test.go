package layer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"
)

// trickyStore has names that sort differently by whole path and by NAR
// (per-directory) order: bytes below '/' ("-", ".", "\x01", " ") right
// after a directory's name.
func trickyStore(t *testing.T) (root, p string) {
	t.Helper()
	root = t.TempDir()
	p = storePath('t', "tricky")
	for _, f := range []string{"lib/a", "lib/z", "lib-x", "lib.so", "lib\x01", "lib x", "lib0", "libz", "a/b/c", "a-b", "a.b/c", "B", "é"} {
		mkfile(t, root, p+"/"+f, f, 0o444)
	}
	mklink(t, root, p+"/lib/link", "../lib-x")
	return root, p
}

func walkOrder(t *testing.T, src Source, p string) []string {
	t.Helper()
	var got []string
	err := src.Walk(context.Background(), p, func(e *Entry) error {
		got = append(got, e.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// DirSource walks in exactly the order of the store path's NAR, as
// go-nix serialises it.
func TestDirSourceIsNAROrder(t *testing.T) {
	root, p := trickyStore(t)
	var buf bytes.Buffer
	if err := nar.DumpPath(&buf, root+p); err != nil {
		t.Fatal(err)
	}
	nr, err := nar.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for {
		h, err := nr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, strings.TrimSuffix(p+h.Path, "/"))
	}
	if got := walkOrder(t, DirSource{root}, p); !slices.Equal(got, want) {
		t.Errorf("DirSource order\n%q\nNAR order\n%q", got, want)
	}
	if slices.IsSorted(want) {
		t.Fatal("the fixture does not tell NAR order from byte order")
	}
}

// The layer's tar entries come in GNU tar's --sort=name order.
func TestTarOrderIsGNUSortName(t *testing.T) {
	gnutar, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar")
	}
	root, p := trickyStore(t)
	es := readLayer(t, build(t, Spec{Paths: sp(p)}, root, Options{TempDir: t.TempDir()}))
	var got []string
	for _, e := range es {
		got = append(got, strings.TrimSuffix(e.hdr.Name, "/"))
	}
	cmd := exec.Command(gnutar, "--sort=name", "-C", root, "-cf", "-", "nix")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("tar --sort=name: %v", err)
	}
	var want []string
	for _, e := range tarEntries(t, out) {
		want = append(want, strings.TrimSuffix(e, "/"))
	}
	if !slices.Equal(got, want) {
		t.Errorf("layer order\n%q\nGNU tar --sort=name\n%q", got, want)
	}
}
