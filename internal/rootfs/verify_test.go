package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// narHashOf is the NAR hash Nix registers for the tree at dir.
func narHashOf(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	if err := nar.DumpPath(h, dir); err != nil {
		t.Fatal(err)
	}
	return nixpath.FormatSHA256(h.Sum(nil))
}

// A root dep from the local store is checked against its NarHash as it is
// read: intact, every file is pinned to the bytes checked; changed after
// Nix registered it, Collect fails with *layer.TamperedPathError naming
// the path and the repair command; changed after Collect checked it, the
// layer build fails instead of shipping the new bytes.
func TestCollectChecksNarHash(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"bin/sh": "#!/bin/sh\n", "etc/motd": "hello\n", "lib/x -> ../etc/motd": ""})
	want := narHashOf(t, root+envA)
	src := []Source{{Label: "root: env-a", StorePath: envA, NarHash: want}}

	files, err := Collect(context.Background(), src, root, "")
	if err != nil {
		t.Fatal(err)
	}
	motd := byPath(files)["/etc/motd"]
	if sum := sha256.Sum256([]byte("hello\n")); motd.SHA256 != hex.EncodeToString(sum[:]) || motd.Source == "" {
		t.Errorf("/etc/motd: source %q sha256 %q, want the host file pinned to %x", motd.Source, motd.SHA256, sum)
	}

	// Changed after Collect checked it: the layer does not ship it.
	motdHost := filepath.Join(root, envA, "etc/motd")
	os.Chmod(motdHost, 0o644)
	if err := os.WriteFile(motdHost, []byte("pwned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(motdHost, 0o444)
	tmp := t.TempDir()
	b, err := layer.Build(context.Background(), layer.Spec{Name: "root", Files: files}, layer.DirSource{Root: root}, layer.Options{TempDir: tmp})
	var ce *layer.ChangedFileError
	if err == nil {
		b.Close()
		t.Fatal("layer.Build shipped a root file changed after it was checked")
	} else if !errors.As(err, &ce) || ce.Path != "/etc/motd" {
		t.Errorf("layer.Build: %v, want *layer.ChangedFileError for /etc/motd", err)
	}

	// Changed before: Collect refuses it.
	_, err = Collect(context.Background(), src, root, "")
	var te *layer.TamperedPathError
	if !errors.As(err, &te) || te.Path != envA || te.Want != want || te.Got != narHashOf(t, root+envA) {
		t.Fatalf("Collect of a tampered root dep: %v, want *layer.TamperedPathError for %s", err, envA)
	}
	for _, s := range []string{"root: env-a", "nix-store --repair-path " + envA} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
}
