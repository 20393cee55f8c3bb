package e2e

// Requests of a no-change rerun (issue 14), counted by a proxy in front of
// the real registry: the previous manifest, its config and the tag check,
// and nothing per layer.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

func TestE2ENoChangeRerunRequests(t *testing.T) {
	testutil.Short(t)
	_, _, planFile := setupSeed(t, nixfix.Options{Packages: 3, CudaSize: 1 << 20})
	reg := registry.Start(t, registry.Options{})
	p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL()})
	ref := p.Ref("e2e/requests:latest")
	dir := t.TempDir()

	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", filepath.Join(dir, "cold.json")); err != nil {
		t.Fatalf("cold build: %v\n%s", err, stderr)
	}
	cold := p.Seen()
	pushed := 0
	for _, r := range cold {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/blobs/uploads/") {
			pushed++
		}
	}
	if pushed < 3 {
		t.Fatalf("the cold build uploaded %d blobs:\n%s", pushed, strings.Join(cold, "\n"))
	}

	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", filepath.Join(dir, "rerun.json")); err != nil {
		t.Fatalf("rerun: %v\n%s", err, stderr)
	}
	rerun := p.Seen()
	r := readReport(t, filepath.Join(dir, "rerun.json"))
	if r.BytesPushed != 0 || r.Changed {
		t.Errorf("rerun pushed %d bytes, changed=%v", r.BytesPushed, r.Changed)
	}

	direct, err := name.ParseReference(reg.Ref("e2e/requests:latest"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(direct)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, req := range rerun {
		if req != "GET /v2/" { // the auth ping
			got = append(got, req)
		}
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf("GET /v2/e2e/requests/blobs/%s", cfg),
		"GET /v2/e2e/requests/manifests/latest",
		"HEAD /v2/e2e/requests/manifests/latest",
	}
	if !slices.Equal(got, want) {
		t.Errorf("no-change rerun sent\n  %s\nwant exactly (besides the /v2/ ping)\n  %s", strings.Join(rerun, "\n  "), strings.Join(want, "\n  "))
	}
}
