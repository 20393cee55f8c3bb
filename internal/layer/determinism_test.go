package layer

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDeterministicDigest(t *testing.T) {
	root, a, b, c := makeStore(t)
	spec := Spec{Name: "x", Paths: sp(a, b, c)}
	first := build(t, spec, root, Options{TempDir: t.TempDir()})
	again := build(t, Spec{Name: "x", Paths: sp(c, b, a)}, root+"/", Options{TempDir: t.TempDir()})
	if digestOf(t, first) != digestOf(t, again) {
		t.Fatalf("same store built twice: %s vs %s", digestOf(t, first), digestOf(t, again))
	}

	// Touch every file and directory (not through symlinks) with odd times.
	when := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, when, when)
	})
	if err != nil {
		t.Fatal(err)
	}
	touched := build(t, spec, root, Options{TempDir: t.TempDir()})
	if digestOf(t, first) != digestOf(t, touched) {
		t.Fatalf("digest changed after touching mtimes: %s vs %s", digestOf(t, first), digestOf(t, touched))
	}
	d1, _ := first.DiffID()
	d2, _ := touched.DiffID()
	if d1 != d2 {
		t.Fatalf("diffID changed after touching mtimes")
	}

	// Sanity: the digest does depend on content and on permissions.
	mkfile(t, root, b, "BEE", 0o444)
	if d := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir()})); d == digestOf(t, first) {
		t.Fatalf("digest did not change with content")
	}
	mkfile(t, root, b, "bee", 0o555)
	if d := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir()})); d == digestOf(t, first) {
		t.Fatalf("digest did not change with mode")
	}
	mkfile(t, root, b, "bee", 0o444)
	if d := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir()})); d != digestOf(t, first) {
		t.Fatalf("digest did not come back after restoring the file")
	}
}

// makeMultiBlockStore writes several MiB of mixed compressible and
// incompressible data, so the layer spans many pgzip blocks.
func makeMultiBlockStore(t testing.TB) (root, p string) {
	t.Helper()
	root = t.TempDir()
	p = storePath('5', "blocks")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 12 {
		size := 300_000 + rng.IntN(700_000)
		buf := make([]byte, size)
		if i%2 == 0 {
			for j := range buf {
				buf[j] = byte(rng.Uint32())
			}
		} else {
			words := []string{"nix ", "store ", "layer ", "gzip\n", "deterministic ", "tar "}
			var sb strings.Builder
			for sb.Len() < size {
				sb.WriteString(words[rng.IntN(len(words))])
			}
			buf = []byte(sb.String()[:size])
		}
		mkfile(t, root, p+"/f"+string(rune('a'+i)), string(buf), 0o644)
	}
	return root, p
}

func TestDigestIndependentOfConcurrency(t *testing.T) {
	root, p := makeMultiBlockStore(t)
	spec := Spec{Paths: sp(p)}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)

	ref := build(t, spec, root, Options{TempDir: t.TempDir()}) // GOMAXPROCS 1
	if ref.UncompressedSize() < 4*int64(DefaultFormat.BlockSize) {
		t.Fatalf("test tree too small (%d bytes) to span several pgzip blocks", ref.UncompressedSize())
	}
	readLayer(t, ref)
	want := digestOf(t, ref)

	runtime.GOMAXPROCS(2)
	if got := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir()})); got != want {
		t.Errorf("GOMAXPROCS 2: digest %s, GOMAXPROCS 1: %s", got, want)
	}
	runtime.GOMAXPROCS(prev)
	for _, blocks := range []int{1, 2, 3, 8, 16} {
		if got := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir(), blocks: blocks})); got != want {
			t.Errorf("blocks %d: digest %s, want %s", blocks, got, want)
		}
	}
}

// TestWritersReuseGivesSameBytes: a gzip writer lent from one build to the
// next (Options.Writers) writes exactly what a new one writes, whatever it
// compressed before, and is really lent (not made anew).
func TestWritersReuseGivesSameBytes(t *testing.T) {
	root, blocks := makeMultiBlockStore(t)
	_, a, _, _ := makeStore(t)
	mkfile(t, root, a, "a small file", 0o444)
	big := Spec{Name: "big", Paths: sp(blocks)}
	small := Spec{Name: "small", Paths: sp(a)}
	want := map[string]string{
		"big":   digestOf(t, build(t, big, root, Options{TempDir: t.TempDir()})),
		"small": digestOf(t, build(t, small, root, Options{TempDir: t.TempDir()})),
	}
	var ws Writers
	for i, spec := range []Spec{big, small, big, small, small} {
		got := digestOf(t, build(t, spec, root, Options{TempDir: t.TempDir(), Writers: &ws}))
		if got != want[spec.Name] {
			t.Fatalf("build %d (%s) with a lent writer: %s, want %s", i, spec.Name, got, want[spec.Name])
		}
	}
	if n := len(ws.free[DefaultFormat.Level]); n != 1 {
		t.Errorf("%d idle writers after sequential builds, want the one writer lent each time", n)
	}
}
