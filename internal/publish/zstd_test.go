package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/testutil"
)

// zstdNamed builds n small real zstd layers, one store path each.
func zstdNamed(t *testing.T, n int) []image.Named {
	t.Helper()
	root := t.TempDir()
	var out []image.Named
	for i := range n {
		p := fmt.Sprintf("/nix/store/%032d-pkg%d", i, i)
		f := filepath.Join(root, p, "bin", "hello")
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(strings.Repeat(fmt.Sprintf("echo %d\n", i), 500)), 0o555); err != nil {
			t.Fatal(err)
		}
		spec := layer.Spec{Name: fmt.Sprintf("l%d", i), Paths: []layer.StorePath{{Path: p, NarHash: narHash(t, filepath.Join(root, p))}}, Format: layer.ZstdFormat}
		b, err := layer.Build(context.Background(), spec, layer.DirSource{Root: root}, layer.Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		out = append(out, image.Named{Layer: b, Meta: image.LayerMeta{Name: spec.Name, Key: fmt.Sprintf("sha256:%064x", i), Paths: []image.PathSize{{Path: p, NarSize: 1}}}})
	}
	return out
}

// An OCI layout of zstd layers holds them as tar+zstd, blob for blob, and
// skopeo and umoci read it.
func TestOCILayoutZstd(t *testing.T) {
	img := assemble(t, zstdNamed(t, 2))
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := ociPublish(dir, img, "v1"); err != nil {
		t.Fatal(err)
	}
	verifyLayoutBlobs(t, dir, img)

	testutil.Short(t)
	skopeo := testutil.RequireTool(t, "skopeo")
	var m struct {
		Layers []struct{ MediaType string }
	}
	raw := run(t, skopeo, "inspect", "--raw", "oci:"+dir+":v1")
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("layers %+v", m.Layers)
	}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
			t.Errorf("layer media type %s", l.MediaType)
		}
	}
	// skopeo (containers/image, as podman and CRI-O) decompresses every
	// layer to exactly the tar stream of its diffID. (umoci 0.4.7, in
	// Debian bookworm, refuses tar+zstd: "blob is not correct mediatype".)
	out := filepath.Join(t.TempDir(), "dir")
	run(t, skopeo, "copy", "--dest-decompress", "oci:"+dir+":v1", "dir:"+out)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cf.RootFS.DiffIDs {
		data, err := os.ReadFile(filepath.Join(out, d.Hex))
		if err != nil {
			t.Errorf("skopeo --dest-decompress wrote no blob %s: %v", d, err)
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d.Hex {
			t.Errorf("decompressed layer %s hashes to %x", d, sum)
		}
	}
}

// narHash is the NAR hash of the tree at dir, as Nix would register it
// (layer.Build checks it).
func narHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	if err := nar.DumpPath(h, dir); err != nil {
		t.Fatal(err)
	}
	return nixpath.FormatSHA256(h.Sum(nil))
}
