package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// GHCR answers a manifest PUT with MANIFEST_BLOB_UNKNOWN for a while after
// the blobs' upload. Once: the push recovers and the image verifies. Every
// time: the run gives up after a bounded number of attempts, naming the
// answer, and the tag stays on the old image.
func TestReliabilityManifestBlobUnknown(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "skopeo")
	reg := registry.Start(t, registry.Options{})
	const repo = "rel/mbu"

	plan1 := synthPlan(t, t.TempDir(), stackPkgs(0, 128<<10), "")
	rule := &faultproxy.Rule{Method: http.MethodPut, Path: regexp.MustCompile(`/manifests/`), Times: 1, Kind: faultproxy.ManifestBlobUnknown}
	p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(), Rules: []*faultproxy.Rule{rule}})
	want, _, _ := expectedImage(t, plan1)
	if _, stderr, err := runCLI(t, nil, "build", "--plan", plan1, "--image", p.Ref(repo+":latest"), "--temp-dir", t.TempDir()); err != nil {
		t.Fatalf("push with one MANIFEST_BLOB_UNKNOWN failed: %v\n%s", err, stderr)
	}
	if p.Counts()[faultproxy.ManifestBlobUnknown] != 1 {
		t.Fatalf("the fault did not fire exactly once: %s", p.Summary())
	}
	if got := pullVerify(t, reg, repo+":latest"); got != want {
		t.Fatalf("pushed image %s, want %s", got, want)
	}

	plan2 := synthPlan(t, t.TempDir(), stackPkgs(1, 128<<10), "")
	forever := &faultproxy.Rule{Method: http.MethodPut, Path: regexp.MustCompile(`/manifests/`), Times: -1, Kind: faultproxy.ManifestBlobUnknown}
	p2 := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(), Rules: []*faultproxy.Rule{forever}})
	_, _, err := runCLI(t, nil, "build", "--plan", plan2, "--image", p2.Ref(repo+":latest"), "--temp-dir", t.TempDir())
	if err == nil {
		t.Fatal("push succeeded although every manifest PUT was refused")
	}
	if !strings.Contains(err.Error(), "MANIFEST_BLOB_UNKNOWN") {
		t.Errorf("error does not name the registry's answer: %v", err)
	}
	if n := p2.Counts()[faultproxy.ManifestBlobUnknown]; n < 2 || n > 3 {
		t.Errorf("manifest PUT attempted %d times, want a bounded 2-3 (whole-push retries)", n)
	}
	if got := tagDigest(t, reg, repo, "latest"); got != want {
		t.Errorf("tag moved to %s after a failed push, want %s", got, want)
	}
}
