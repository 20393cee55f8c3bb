package layer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	gcrstream "github.com/google/go-containerregistry/pkg/v1/stream"
)

// A streamed layer's bytes are Build's, its digest is unknown until a read
// reached the end, and every read gives the same bytes.
func TestStreamedIsBuild(t *testing.T) {
	root, spec := streamFixture(t)
	b, err := Build(context.Background(), spec, DirSource{Root: root}, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := Stream(context.Background(), spec, DirSource{Root: root}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Digest(); !errors.Is(err, gcrstream.ErrNotComputed) {
		t.Fatalf("digest before any read: %v, want gcrstream.ErrNotComputed", err)
	}
	for i := range 2 {
		rc, err := s.Attempt().Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		d, _ := s.Digest()
		bd, _ := b.Digest()
		size, _ := b.Size()
		diffID, _ := s.DiffID()
		bdiffID, _ := b.DiffID()
		if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); got != bd.String() || d != bd || n != size || diffID != bdiffID || s.UncompressedSize() != b.UncompressedSize() {
			t.Errorf("read %d: %d bytes %s (digest %s, diffID %s), Build wrote %d bytes %s (diffID %s)", i, n, got, d, diffID, size, bd, bdiffID)
		}
	}
	// A reader closed early stops the write (no goroutine left blocked).
	rc, _ := s.Compressed()
	rc.Close()
}

func streamFixture(t *testing.T) (string, Spec) {
	t.Helper()
	root := t.TempDir()
	p := storePath('a', "hello")
	mkfile(t, root, p+"/bin/hello", "#!/bin/sh\necho hello\n", 0o555)
	mkfile(t, root, p+"/share/doc", strings.Repeat("hello world\n", 50000), 0o444)
	return root, registered(t, Spec{Name: "hello", Paths: sp(p)}, root)
}
