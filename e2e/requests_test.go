package e2e

// Requests of a no-change rerun (issue 14), counted by a proxy in front of
// the real registry: the previous manifest, its config and the tag check,
// and nothing per layer.

import (
	"fmt"
	"os"
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
	_, total := noChangeRerun(t, reg, planFile)

	// The README states the count, ping included, as measured here.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(readme)), " ")
	words := map[int]string{3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
	for _, want := range []string{
		fmt.Sprintf("so %s requests in all", words[total]),
		fmt.Sprintf("| no-change rerun, registry requests | **%d** on a loopback registry", total),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README.md does not say %q (measured: %d requests, pings included)", want, total)
		}
	}
}

// A root layer that holds no store paths of its own (/tmp and users only)
// records an empty path list, which a rerun reuses like any other layer,
// and an image built on it with from: subtracts it without a warning
// (issue 18).
func TestE2ENoChangeRerunRequestsRootWithoutStorePaths(t *testing.T) {
	testutil.Short(t)
	fx, _, planFile := setupSeed(t, nixfix.Options{Packages: 3, CudaSize: 1 << 20})
	seed, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	planFile = writePlan(t, "nix-layers.yaml", string(seed)+"tmp: true\nusers: [{name: app, uid: 1000, gid: 1000, home: /home/app}]\n")
	reg := registry.Start(t, registry.Options{})
	ref, _ := noChangeRerun(t, reg, planFile)

	r := readReport(t, filepath.Join(filepath.Dir(planFile), "rerun.json"))
	var root bool
	for _, l := range r.Layers {
		if l.Name == "root" {
			root = true
			if len(l.Paths) != 0 || l.Status != "cached" {
				t.Errorf("rerun's root layer: %d store paths, status %s; want none, cached (reused, not rebuilt)", len(l.Paths), l.Status)
			}
		}
	}
	if !root {
		t.Fatalf("the plan made no root layer: %+v", r.Layers)
	}

	derived := writePlan(t, "derived.yaml", fmt.Sprintf("version: 1\nfrom: %s\nlayers:\n  - name: again\n    deps: [%q]\n", reg.Ref("e2e/requests:latest"), fx.Ref("app")))
	_, stderr, err := runCLI(t, nil, "build", "--plan", derived, "--image", reg.Ref("e2e/derived:latest"))
	if err != nil {
		t.Fatalf("build from %s: %v\n%s", ref, err, stderr)
	}
	if strings.Contains(stderr, "not subtracted") || strings.Contains(stderr, "no path list") {
		t.Errorf("from: an image with a path-less root layer warned:\n%s", stderr)
	}
}

// noChangeRerun builds planFile cold through a counting proxy, then again,
// and checks the rerun sent exactly the requests the README promises. It
// leaves rerun.json beside planFile and returns the image's reference
// through the proxy and how many requests the rerun made, both pings
// (HTTPS and HTTP) included.
func noChangeRerun(t *testing.T, reg *registry.Registry, planFile string) (string, int) {
	t.Helper()
	p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL()})
	ref := p.Ref("e2e/requests:latest")
	dir := filepath.Dir(planFile)

	if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", filepath.Join(dir, "cold.json")); err != nil {
		t.Fatalf("cold build: %v\n%s", err, stderr)
	}
	cold := p.Seen()
	p.TLSHellos()
	pushed := 0
	for _, r := range cold {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/blobs/uploads/") {
			pushed++
		}
	}
	if pushed < 3 {
		t.Fatalf("the cold build uploaded %d blobs:\n%s", pushed, strings.Join(cold, "\n"))
	}

	_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--report", filepath.Join(dir, "rerun.json"))
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, stderr)
	}
	rerun := p.Seen()
	hellos := p.TLSHellos()
	r := readReport(t, filepath.Join(dir, "rerun.json"))
	if r.BytesPushed != 0 || r.Changed {
		t.Errorf("rerun pushed %d bytes, changed=%v\n%s", r.BytesPushed, r.Changed, stderr)
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
	// The /v2/ ping: go-containerregistry tries HTTPS first and, on a
	// loopback (insecure) registry, then HTTP; the HTTPS attempt reaches
	// the proxy as a TLS handshake it refuses, not as a request.
	var got []string
	pings := 0
	for _, req := range rerun {
		if req == "GET /v2/" {
			pings++
		} else {
			got = append(got, req)
		}
	}
	if hellos != 1 || pings != 1 {
		t.Errorf("no-change rerun pinged %d times over HTTPS and %d over HTTP, want once each", hellos, pings)
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf("GET /v2/e2e/requests/blobs/%s", cfg),
		"GET /v2/e2e/requests/manifests/latest",
		"HEAD /v2/e2e/requests/manifests/latest",
	}
	if !slices.Equal(got, want) {
		t.Errorf("no-change rerun sent\n  %s\nwant exactly (besides the /v2/ ping)\n  %s\n%s", strings.Join(rerun, "\n  "), strings.Join(want, "\n  "), stderr)
	}
	return ref, hellos + len(rerun)
}
