package e2e

// A registry that cannot be reached (issue 17, item 8): the previous image
// is read before any layer is built, so a network failure on the registry
// the run pushes to ends the run there, naming the host, instead of after
// the whole build; a registry that never answers ends the run within about
// three --registry-timeout.

import (
	"context"
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
