package e2e

// A build split over a job matrix (issue 20, item 3): each part builds and
// pushes by digest only its layers; a final build given every part's
// digest as --cache-from reuses every layer by key, downloads and uploads
// no layer blob, and writes the same manifest as an unsplit build.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

func TestE2EShardedBuildEqualsWhole(t *testing.T) {
	testutil.Short(t)
	_, _, planFile := setupSeed(t, nixfix.Options{Packages: 3, CudaSize: 2 << 20})
	reg := registry.Start(t, registry.Options{})
	dir := t.TempDir()

	// The unsplit build, in a repository of its own.
	wholeFile := filepath.Join(dir, "whole.json")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", reg.Ref("e2e/whole:latest"), "--report", wholeFile); err != nil {
		t.Fatalf("whole build: %v\n%s", err, stderr)
	}
	whole := readReport(t, wholeFile)
	var wholeLayers []string
	for _, l := range whole.Layers {
		if l.Status != "empty" {
			wholeLayers = append(wholeLayers, l.Name)
		}
	}

	// Three parts, as three matrix jobs would run them.
	const n = 3
	ref := reg.Ref("e2e/sharded:latest")
	var digests, got []string
	for i := 1; i <= n; i++ {
		file := filepath.Join(dir, fmt.Sprintf("shard%d.json", i))
		stdout, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--shard", fmt.Sprintf("%d/%d", i, n), "--report", file)
		if err != nil {
			t.Fatalf("shard %d/%d: %v\n%s", i, n, err, stderr)
		}
		r := readReport(t, file)
		if r.Shard != fmt.Sprintf("%d/%d", i, n) || !strings.Contains(stdout, r.Digest) {
			t.Errorf("shard %d/%d: report shard %q, digest %s; stdout:\n%s", i, n, r.Shard, r.Digest, stdout)
		}
		for _, l := range r.Layers {
			if l.Status != "pushed" {
				t.Errorf("shard %d/%d: layer %s %s, want pushed", i, n, l.Name, l.Status)
			}
			got = append(got, l.Name)
		}
		digests = append(digests, r.Digest)
	}
	if d := tagDigest(t, reg, "e2e/sharded", "latest"); d != "" {
		t.Errorf("a shard moved the tag to %s", d)
	}
	slices.Sort(got)
	slices.Sort(wholeLayers)
	if !slices.Equal(got, wholeLayers) {
		t.Fatalf("the parts built %v, want every layer of the whole image once: %v", got, wholeLayers)
	}

	// More parts than layers: a part with nothing to build pushes an image
	// with no layers, and says so.
	empty := filepath.Join(dir, "empty.json")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--shard", "64/64", "--report", empty); err != nil {
		t.Fatalf("shard 64/64: %v\n%s", err, stderr)
	}
	if r := readReport(t, empty); len(r.Layers) != 0 || r.Digest == "" {
		t.Errorf("shard 64/64 of %d layers: %d layers, digest %q", len(wholeLayers), len(r.Layers), r.Digest)
	}

	// The final job, through a counting proxy.
	p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL()})
	args := []string{"build", "--plan", planFile, "--image", p.Ref("e2e/sharded:latest"), "--report", filepath.Join(dir, "final.json")}
	for _, d := range digests {
		args = append(args, "--cache-from", p.Ref("e2e/sharded@"+d))
	}
	if _, stderr, err := runCLI(t, nil, args...); err != nil {
		t.Fatalf("final build: %v\n%s", err, stderr)
	}
	final := readReport(t, filepath.Join(dir, "final.json"))
	if final.Digest != whole.Digest {
		t.Errorf("final digest %s, the unsplit build's %s", final.Digest, whole.Digest)
	}
	if d := tagDigest(t, reg, "e2e/sharded", "latest"); d != whole.Digest {
		t.Errorf("tag holds %q after the final build, want %s", d, whole.Digest)
	}
	layerBlobs := map[string]bool{}
	for _, l := range final.Layers {
		if l.Status != "empty" && l.Status != "cached" {
			t.Errorf("final build: layer %s %s, want cached", l.Name, l.Status)
		}
		layerBlobs[l.Digest] = true
	}
	uploads := 0
	for _, req := range p.Seen() {
		method, path, _ := strings.Cut(req, " ")
		blob := path[strings.LastIndexByte(path, '/')+1:]
		if method == "GET" && strings.Contains(path, "/blobs/") && layerBlobs[blob] {
			t.Errorf("final build downloaded layer blob: %s", req)
		}
		if method == "PUT" && strings.Contains(path, "/blobs/uploads/") {
			uploads++
		}
	}
	// Only the final config is new to the repository.
	if uploads != 1 || final.BytesPushed > 64<<10 {
		t.Errorf("final build uploaded %d blobs, %d bytes; want only its config", uploads, final.BytesPushed)
	}

	// The next night with no change: a part reuses its layers from the tag
	// (the whole image now), builds and uploads none, and its report has
	// no package diff (another part's packages are not "removed").
	again := filepath.Join(dir, "again.json")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--shard", "1/3", "--report", again); err != nil {
		t.Fatalf("shard 1/3 again: %v\n%s", err, stderr)
	}
	r := readReport(t, again)
	for _, l := range r.Layers {
		if l.Status != "cached" {
			t.Errorf("shard 1/3 with no change: layer %s %s, want cached", l.Name, l.Status)
		}
	}
	if raw, _ := os.ReadFile(again); r.BytesPushed > 64<<10 || strings.Contains(string(raw), `"diff"`) {
		t.Errorf("shard 1/3 with no change pushed %d bytes; report:\n%s", r.BytesPushed, raw)
	}
}
