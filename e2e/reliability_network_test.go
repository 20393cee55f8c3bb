package e2e

// A registry that cannot be reached (issue 17, item 8): the previous image
// is read before any layer is built, so a network failure on the registry
// the run pushes to ends the run there, naming the host, instead of after
// the whole build; a registry that never answers ends the run within about
// three --registry-timeout. And faults a push must survive (item 9): one of
// every kind on every request kind, and a request's whole retry budget
// used up.

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// TestReliabilityRegistryUnreachable: nothing listening on the registry's
// port, or a registry that accepts connections and never answers: the run
// fails before any layer is built, saying it cannot reach the registry
// and naming it, and against the silent one within 5 × --registry-timeout
// (the documented worst case is about 3×; this is a bound of correctness,
// not a speed test).
func TestReliabilityRegistryUnreachable(t *testing.T) {
	testutil.Short(t)
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	const timeout = 2 * time.Second
	for _, tc := range []struct {
		name string
		host string
	}{
		{"nothing listening", faultproxy.Closed(t)},
		{"never answers", faultproxy.Silent(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			start := time.Now()
			_, stderr, err := runCLICtx(ctx, nil, "build", "--plan", planFile, "--image", tc.host+"/net/app:latest",
				"--temp-dir", t.TempDir(), "--registry-timeout", timeout.String())
			d := time.Since(start)
			if err == nil {
				t.Fatal("a push to an unreachable registry succeeded")
			}
			if !strings.Contains(err.Error(), "cannot reach registry "+tc.host) {
				t.Errorf("the error does not say the registry cannot be reached, naming it: %v", err)
			}
			if strings.Contains(stderr, "building layer") {
				t.Errorf("layers were built before giving up:\n%s", stderr)
			}
			if d > 5*timeout {
				t.Errorf("gave up after %s, want within about 3 × %s", d, timeout)
			}
			t.Logf("FIGURE unreachable registry %q, --registry-timeout %s: gave up after %s: %v", tc.name, timeout, d.Round(100*time.Millisecond), err)
		})
	}
}

// TestReliabilityCacheFromUnreachable: a --cache-from on a registry the run
// does not push to is only an optimisation: unreachable, it is named in a
// warning and the build goes on.
func TestReliabilityCacheFromUnreachable(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	dead := faultproxy.Closed(t)
	_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", reg.Ref("net/cf:latest"),
		"--cache-from", dead+"/net/cf:latest", "--temp-dir", t.TempDir(), "--registry-timeout", "2s")
	if err != nil {
		t.Fatalf("an unreachable --cache-from failed the build: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "warning: previous image "+dead+"/net/cf:latest is not reused") {
		t.Errorf("no warning naming the --cache-from:\n%s", stderr)
	}
	if tagDigest(t, reg, "net/cf", "latest") == "" {
		t.Error("nothing pushed")
	}
}

// TestReliabilityEveryFaultOnce: one fault of every kind on the first
// request of every kind a push sends (the nth, up to 3, in the long mode)
// — the ping, the previous image's manifest and config, blob HEADs, upload
// POST/PATCH/PUT, the manifest PUT and the tag's HEAD after it — is
// survived: each push through the proxy completes and the tag holds what
// it pushed. It found the escapes of issue 17, item 9 (the tag's HEAD
// after the push); a failure prints the faults the push met, in order.
func TestReliabilityEveryFaultOnce(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	const repo = "rel/everyfault"
	requests := []struct{ method, path string }{
		{http.MethodGet, `^/v2/$`}, {http.MethodGet, `/manifests/`}, {http.MethodGet, `/blobs/sha256:`},
		{http.MethodHead, `/blobs/sha256:`}, {http.MethodPost, `/blobs/uploads/$`}, {http.MethodPatch, `/blobs/uploads/.`},
		{http.MethodPut, `/blobs/uploads/.`}, {http.MethodPut, `/manifests/`}, {http.MethodHead, `/manifests/`},
	}
	kinds := []faultproxy.Kind{faultproxy.Status500, faultproxy.Status502, faultproxy.Status503, faultproxy.Status429,
		faultproxy.Drop, faultproxy.Stall, faultproxy.BlobUnknown, faultproxy.ManifestUnknown}
	seed := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", seed, "--image", reg.Ref(repo+":latest"), "--temp-dir", t.TempDir()); err != nil {
		t.Fatalf("seeding: %v\n%s", err, stderr)
	}
	// "Not found" is what a read may transiently get (a blob or tag just
	// written), not an answer to a write.
	applies := func(method, path string, k faultproxy.Kind) bool {
		read := method == http.MethodGet || method == http.MethodHead
		switch k {
		case faultproxy.BlobUnknown:
			return read && strings.Contains(path, "/blobs/")
		case faultproxy.ManifestUnknown:
			return read && strings.Contains(path, "/manifests/")
		}
		return true
	}
	variant, fired, failed := int64(1), 0, 0
	for _, rq := range requests {
		for _, k := range kinds {
			if !applies(rq.method, rq.path, k) {
				continue
			}
			for nth := 1; nth <= pick(1, 3); nth++ {
				variant++
				p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(), StallFor: time.Second,
					Rules: []*faultproxy.Rule{{Method: rq.method, Path: regexp.MustCompile(rq.path), Nth: nth, Kind: k}}})
				planFile := synthPlan(t, t.TempDir(), stackPkgs(variant, 64<<10), "")
				rep := filepath.Join(t.TempDir(), "r.json")
				_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", p.Ref(repo+":latest"), "--temp-dir", t.TempDir(), "--report", rep)
				what := fmt.Sprintf("%s %s #%d answered %s", rq.method, rq.path, nth, k)
				if err != nil {
					t.Errorf("%s: the push failed: %v\nfaults: %+v\n%s", what, err, p.Events(), stderr)
					failed++
					continue
				}
				if got, want := tagDigest(t, reg, repo, "latest"), readReport(t, rep).Digest; got != want {
					t.Errorf("%s: tag %s, report %s", what, got, want)
				}
				fired += p.Faults()
			}
		}
	}
	if fired < int(variant-1)*3/4 {
		t.Errorf("only %d of %d faults fired", fired, variant-1)
	}
	t.Logf("FIGURE every-fault-once: %d pushes, %d faults fired, %d pushes failed", variant-1, fired, failed)
}

// TestReliabilityRequestBudgetUsedUp: a request failing 5 times in a row
// (503) uses up its own retry budget; the push still completes, because
// every registry operation of a push, the tag's HEAD after the manifest
// PUT included, is retried as a whole on top (before, that HEAD was the one
// request without: its failure failed a push that had written everything).
func TestReliabilityRequestBudgetUsedUp(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	const repo = "rel/budget"
	seed := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	if _, stderr, err := runCLI(t, nil, "build", "--plan", seed, "--image", reg.Ref(repo+":latest"), "--temp-dir", t.TempDir()); err != nil {
		t.Fatalf("seeding: %v\n%s", err, stderr)
	}
	requests := []struct{ method, path string }{{http.MethodHead, `/manifests/`}}
	if *reliabilityLong {
		requests = append(requests, []struct{ method, path string }{
			{http.MethodPut, `/manifests/`}, {http.MethodHead, `/blobs/sha256:`}, {http.MethodPost, `/blobs/uploads/$`},
			{http.MethodPatch, `/blobs/uploads/.`}, {http.MethodPut, `/blobs/uploads/.`},
		}...)
	}
	for i, rq := range requests {
		p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(),
			Rules: []*faultproxy.Rule{{Method: rq.method, Path: regexp.MustCompile(rq.path), Times: 5, Kind: faultproxy.Status503}}})
		planFile := synthPlan(t, t.TempDir(), stackPkgs(int64(i+1), 64<<10), "")
		rep := filepath.Join(t.TempDir(), "r.json")
		_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", p.Ref(repo+":latest"), "--temp-dir", t.TempDir(), "--report", rep)
		if err != nil {
			t.Errorf("%s %s answered 503 five times: the push failed: %v\n%s", rq.method, rq.path, err, stderr)
			continue
		}
		if p.Faults() != 5 {
			t.Errorf("%s %s: %d faults fired, want 5", rq.method, rq.path, p.Faults())
		}
		if got, want := tagDigest(t, reg, repo, "latest"), readReport(t, rep).Digest; got != want {
			t.Errorf("%s %s: tag %s, report %s", rq.method, rq.path, got, want)
		}
	}
}
