package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
)

// zstdNamed builds n small real layers in zstd, one store path each.
func zstdNamed(t *testing.T, n int) []Named {
	t.Helper()
	root := t.TempDir()
	var out []Named
	for i := range n {
		p := fmt.Sprintf("/nix/store/%032d-pkg%d", i, i)
		f := filepath.Join(root, p, "share", "data")
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(strings.Repeat(fmt.Sprintf("package %d\n", i), 1000)), 0o444); err != nil {
			t.Fatal(err)
		}
		spec := layer.Spec{Name: fmt.Sprintf("layer-%d", i), Paths: []layer.StorePath{{Path: p, NarHash: narHash(t, filepath.Join(root, p))}}, Format: layer.ZstdFormat}
		b, err := layer.Build(context.Background(), spec, layer.DirSource{Root: root}, layer.Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		out = append(out, Named{Layer: b, Meta: LayerMeta{Name: spec.Name, Key: testKey(i), Paths: []PathSize{{Path: p, NarSize: 1000}}}})
	}
	return out
}

// zstd layers keep their media type through Assemble and come back from
// the registry as tar+zstd with the diffIDs of their tar streams.
func TestAssembleAndLoadPreviousZstd(t *testing.T) {
	layers := zstdNamed(t, 2)
	img, err := Assemble(nil, layers, ConfigOptions{Platform: v1.Platform{Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range m.Layers {
		if d.MediaType != types.OCILayerZStd {
			t.Errorf("manifest layer %d: media type %s", i, d.MediaType)
		}
	}
	reg := memregistry.Start(t)
	ref := mustRef(t, reg.Host+"/app/zstd:latest")
	push(t, ref, img)
	prev, err := LoadPrevious(context.Background(), testClient(t), ref, v1.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, prev, img, layers)
	for i, pl := range prev.Layers {
		want, _ := layers[i].Layer.DiffID()
		if pl.Descriptor.MediaType != types.OCILayerZStd || pl.ConfigDiffID != want {
			t.Errorf("layer %d: %s, diffID %s, want tar+zstd and %s", i, pl.Descriptor.MediaType, pl.ConfigDiffID, want)
		}
		// The remote layer decompresses as zstd (what a local output of
		// a reused layer would read).
		rc, err := pl.Layer.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil || "sha256:"+hex.EncodeToString(h.Sum(nil)) != want.String() {
			t.Errorf("layer %d: remote Uncompressed: %v, sha256 %x, want %s", i, err, h.Sum(nil), want)
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
