package pipeline

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/resolve"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
)

// buildIn runs Build of plan to ref on the counting registry with layers
// in format f, and returns the report and the log.
func buildIn(t *testing.T, c *memregistry.Registry, plan, repoTag string, f layer.Format) (*report.Report, string) {
	t.Helper()
	client, err := regclient.New()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(c.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publish.NewRegistry(client, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rep, err := Build(context.Background(), Options{
		PlanFile: plan, Target: ref, Previous: []name.Reference{ref},
		TempDir: t.TempDir(), Registry: client, Log: &logs, Format: f,
	}, pub)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, logs.String())
	}
	return rep, logs.String()
}

// mediaTypes reads back the layer media types of the image rep pushed.
func mediaTypes(t *testing.T, rep *report.Report) []types.MediaType {
	t.Helper()
	var out []types.MediaType
	for _, l := range manifestLayers(t, rep) {
		out = append(out, l.MediaType)
	}
	return out
}

// A zstd image is reused by a zstd rerun (every layer cached, 0 bytes);
// a gzip rerun has other keys and rebuilds every layer, with the same
// diffIDs; back to zstd, the registry still has the zstd blobs.
func TestZstdRerunReusesZstdGzipRebuilds(t *testing.T) {
	c := memregistry.Start(t)
	zs, _ := buildIn(t, c, examplePlan, "ex/zstd:latest", layer.ZstdFormat)
	for n, s := range statuses(zs) {
		if s != report.StatusPushed {
			t.Errorf("first push: layer %s %s", n, s)
		}
	}
	mts := mediaTypes(t, zs)
	if len(mts) != 3 {
		t.Fatalf("zstd image has layers %v", mts)
	}
	for _, mt := range mts {
		if mt != types.OCILayerZStd {
			t.Errorf("zstd image: layer media type %s", mt)
		}
	}

	again, _ := buildIn(t, c, examplePlan, "ex/zstd:latest", layer.ZstdFormat)
	for n, s := range statuses(again) {
		if s != report.StatusCached {
			t.Errorf("zstd rerun: layer %s %s", n, s)
		}
	}
	if again.Changed || again.BytesPushed != 0 || again.Digest != zs.Digest {
		t.Errorf("zstd rerun: changed %v, %d bytes, %s vs %s", again.Changed, again.BytesPushed, again.Digest, zs.Digest)
	}

	gz, _ := buildIn(t, c, examplePlan, "ex/zstd:latest", layer.DefaultFormat)
	for n, s := range statuses(gz) {
		if s != report.StatusPushed {
			t.Errorf("gzip rerun over zstd: layer %s %s, want pushed (other keys)", n, s)
		}
	}
	if !gz.Changed || gz.Digest == zs.Digest {
		t.Errorf("gzip rerun: changed %v, digest %s", gz.Changed, gz.Digest)
	}
	for i, l := range gz.Layers {
		z := zs.Layers[i]
		if l.Empty {
			continue
		}
		if l.Name != z.Name || l.Key == z.Key || l.Digest == z.Digest || l.DiffID != z.DiffID || l.UncompressedSize != z.UncompressedSize {
			t.Errorf("layer %s: gzip key %s digest %s diffID %s, zstd key %s digest %s diffID %s; want other keys and digests, the same diffID",
				l.Name, l.Key, l.Digest, l.DiffID, z.Key, z.Digest, z.DiffID)
		}
	}
	for _, mt := range mediaTypes(t, gz) {
		if mt != types.OCILayer {
			t.Errorf("gzip image: layer media type %s", mt)
		}
	}

	back, _ := buildIn(t, c, examplePlan, "ex/zstd:latest", layer.ZstdFormat)
	if back.Digest != zs.Digest {
		t.Errorf("zstd again: digest %s, want the first zstd image %s", back.Digest, zs.Digest)
	}
	for n, s := range statuses(back) {
		if s != report.StatusExists {
			t.Errorf("zstd again: layer %s %s, want exists (rebuilt, the registry has the blob)", n, s)
		}
	}
}

// A bad format fails Build and resolve.Resolve before anything is read, with an
// error of the library's own words.
func TestBadFormatFailsFirst(t *testing.T) {
	c := memregistry.Start(t)
	client := newCountingClient(t)
	ref, _ := name.ParseReference(c.Host + "/ex/bad:latest")
	pub, err := publish.NewRegistry(client, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Take()
	for _, f := range []layer.Format{{Compression: "xz", Level: 6}, {Compression: layer.Zstd, Level: 9}, {Compression: layer.Gzip}} {
		_, err := Build(context.Background(), Options{
			PlanFile: "/does/not/exist.yaml", Target: ref, Previous: []name.Reference{ref},
			TempDir: t.TempDir(), Registry: client, Format: f,
		}, pub)
		if err == nil || !strings.HasPrefix(err.Error(), "layer format: ") || strings.Contains(err.Error(), "--") {
			t.Errorf("Build in %+v: error %v, want one about the layer format first", f, err)
		}
		if _, err := resolve.Resolve(context.Background(), examplePlan, resolve.NixOptions{}, nil, f); err == nil || !strings.HasPrefix(err.Error(), "layer format: ") {
			t.Errorf("Resolve in %+v: error %v", f, err)
		}
	}
	if reqs := c.Take(); len(reqs) != 0 {
		t.Errorf("a bad format reached the registry: %v", reqs)
	}
}
