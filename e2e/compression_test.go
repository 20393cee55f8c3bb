package e2e

// Layer compression (issue 13): a zstd image of a real Nix closure goes to
// the real docker-registry as tar+zstd, pulls and runs with podman, and is
// reused by a zstd rerun; a gzip rerun has other keys and rebuilds.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// rawLayerMediaTypes is what skopeo inspect --raw lists as the media types
// of the manifest's layers.
func rawLayerMediaTypes(t *testing.T, ref string) []string {
	t.Helper()
	skopeo := testutil.RequireTool(t, "skopeo")
	raw := run(t, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+ref)
	var m struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.MediaType)
	}
	return out
}

func nonEmpty(r *cliReport) int {
	n := 0
	for _, l := range r.Layers {
		if l.Status != "empty" {
			n++
		}
	}
	return n
}

func TestE2EZstdPushPullRunRerun(t *testing.T) {
	testutil.Short(t)
	_, _, planFile := setupSeed(t, nixfix.Options{Packages: 3, CudaSize: 2 << 20})
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("e2e/zstd:latest")
	dir := t.TempDir()
	build := func(name string, args ...string) *cliReport {
		t.Helper()
		r, _ := mustBuildReport(t, nil, planFile, append([]string{"--image", ref, "--report", filepath.Join(dir, name+".json")}, args...)...)
		return r
	}

	// Cold zstd build: every layer pushed, every layer tar+zstd.
	z1 := build("zstd-1", "--compression", "zstd")
	if !z1.Changed || z1.BytesPushed == 0 {
		t.Errorf("cold zstd build: changed %v, %d bytes pushed", z1.Changed, z1.BytesPushed)
	}
	for _, l := range z1.Layers {
		if l.Status != "pushed" && l.Status != "empty" {
			t.Errorf("cold zstd build: layer %s %s, want pushed", l.Name, l.Status)
		}
	}
	mts := rawLayerMediaTypes(t, ref)
	if len(mts) != nonEmpty(z1) {
		t.Fatalf("manifest has %d layers, report %d", len(mts), nonEmpty(z1))
	}
	for i, mt := range mts {
		if mt != "application/vnd.oci.image.layer.v1.tar+zstd" {
			t.Errorf("layer %d media type %s, want tar+zstd", i, mt)
		}
	}

	// podman pulls the zstd layers and runs the entrypoint.
	podman := testutil.RequireTool(t, "podman")
	t.Cleanup(func() { run(t, podman, "rmi", "--force", ref) })
	if got := podmanRun(t, ref); !strings.Contains(got, "hello from app") {
		t.Errorf("podman run output %q lacks the app's greeting", got)
	}

	// zstd rerun: every layer reused, 0 bytes, same digest.
	z2 := build("zstd-2", "--compression", "zstd")
	if z2.Digest != z1.Digest || z2.BytesPushed != 0 || z2.Changed {
		t.Errorf("zstd rerun: digest %s (want %s), %d bytes pushed (want 0), changed %v", z2.Digest, z1.Digest, z2.BytesPushed, z2.Changed)
	}
	for _, l := range z2.Layers {
		if l.Status != "cached" && l.Status != "empty" {
			t.Errorf("zstd rerun: layer %s %s, want cached", l.Name, l.Status)
		}
	}

	// diff in zstd sees nothing to rebuild; in gzip, every layer.
	for _, c := range []struct {
		compression string
		rebuilt     int
	}{{"zstd", 0}, {"gzip", nonEmpty(z1)}} {
		stdout, stderr, err := runCLI(t, nil, "diff", "--plan", planFile, "--against", ref, "--compression", c.compression)
		want := fmt.Sprintf("**%d of %d layers** would be rebuilt", c.rebuilt, nonEmpty(z1))
		if err != nil || !strings.Contains(stdout, want) {
			t.Errorf("diff --compression %s: %v, want %q in:\n%s%s", c.compression, err, want, stdout, stderr)
		}
		// Why, when no package changed: the compression is in every key.
		note := fmt.Sprintf("**The published image's layers are zstd and the plan's gzip**, and the compression is part of every layer key, so %d layers with no package changed would be rebuilt.", nonEmpty(z1))
		hasNote := strings.Contains(stdout, note) && strings.Contains(stdout, "| rebuilt (compression zstd → gzip) |")
		if hasNote != (c.compression == "gzip") {
			t.Errorf("diff --compression %s: says why (%q and the table's state) = %v:\n%s", c.compression, note, hasNote, stdout)
		}
	}

	// The gzip diff against a tag that does not exist: one line.
	stdout, stderr, err := runCLI(t, nil, "diff", "--plan", planFile, "--against", reg.Ref("e2e/zstd:nope"))
	if want := "No image is published at `" + reg.Ref("e2e/zstd:nope") + "` (no such tag or repository)"; err != nil || strings.Count(stdout, "\n") != 1 || !strings.HasPrefix(stdout, want) {
		t.Errorf("diff against a missing tag: %v, stdout:\n%s\nwant the one line %q…\n%s", err, stdout, want, stderr)
	}

	// gzip rerun (the default): other keys, every layer rebuilt and
	// pushed as tar+gzip, the same tar streams.
	g := build("gzip")
	if g.Digest == z1.Digest || !g.Changed || g.BytesPushed == 0 {
		t.Errorf("gzip rerun: digest %s, changed %v, %d bytes", g.Digest, g.Changed, g.BytesPushed)
	}
	// The build's report (and so the action's PR comment) says why too.
	var gj struct {
		Diff struct {
			CompressionChange *struct {
				From, To string
				Layers   int
			} `json:"compressionChange"`
		} `json:"diff"`
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "gzip.json")); err != nil || json.Unmarshal(raw, &gj) != nil {
		t.Fatalf("gzip report: %v", err)
	}
	if c := gj.Diff.CompressionChange; c == nil || c.From != "zstd" || c.To != "gzip" || c.Layers != nonEmpty(z1) {
		t.Errorf("gzip rerun report: compressionChange %+v, want zstd → gzip for %d layers", c, nonEmpty(z1))
	}
	for i, l := range g.Layers {
		z := z1.Layers[i]
		if l.Status == "empty" {
			continue
		}
		if l.Status != "pushed" || l.Key == z.Key || l.Digest == z.Digest || l.DiffID != z.DiffID {
			t.Errorf("gzip layer %s: %s key %s digest %s diffID %s; zstd key %s digest %s diffID %s",
				l.Name, l.Status, l.Key, l.Digest, l.DiffID, z.Key, z.Digest, z.DiffID)
		}
	}
	for i, mt := range rawLayerMediaTypes(t, ref) {
		if mt != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("gzip image: layer %d media type %s", i, mt)
		}
	}
}

// A bad --compression, and zstd into a docker-archive, fail with one error
// naming the flag before any work.
func TestE2ECompressionFlagErrors(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	dir := t.TempDir()
	planFile := filepath.Join(dir, "never-read.yaml") // the flags fail first
	archive := filepath.Join(dir, "img.tar")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--image", reg.Ref("e2e/badcomp:latest"), "--compression", "xz"},
			`build: --compression: unknown compression "xz": want gzip, zstd or zstd:chunked`},
		{[]string{"build", "--output", "docker-archive:" + archive, "--compression", "zstd"},
			"build: --compression zstd cannot be used with --output docker-archive:" + archive},
		{[]string{"build", "--output", "docker-archive:" + archive, "--compression", "zstd:chunked"},
			"build: --compression zstd:chunked cannot be used with --output docker-archive:" + archive},
		{[]string{"diff", "--against", reg.Ref("e2e/badcomp:latest"), "--compression", "brotli"},
			`diff: --compression: unknown compression "brotli"`},
		{[]string{"plan", "--compression", "ZSTD"},
			`plan: --compression: unknown compression "ZSTD"`},
	} {
		_, stderr, err := runCLI(t, nil, append(c.args, "--plan", planFile)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q\n%s", c.args, err, c.want, stderr)
		}
	}
	if _, err := os.Stat(archive); !os.IsNotExist(err) {
		t.Errorf("the refused docker-archive was written: %v", err)
	}
	if cat, err := registryCatalog(reg); err != nil || strings.Contains(cat, "badcomp") {
		t.Errorf("a refused build reached the registry: %s %v", cat, err)
	}
}
