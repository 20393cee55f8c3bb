package hostile

import (
	"context"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/testutil"
)

// fast keeps ggcr's retries short.
var fast = remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1.5, Steps: 3}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ctxFor is a context that ends with the test or after d.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// ourGoroutines lists live goroutines running code of this package's
// servers or net/http server connections.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testutil/hostile.(*Server)") || strings.Contains(g, "net/http.(*conn).serve") || strings.Contains(g, "net/http/httptest.(*Server)") {
			out = append(out, g)
		}
	}
	return out
}

// requireNoLeaks fails when server goroutines outlive their test.
func requireNoLeaks(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := ourGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d server goroutines outlived the test:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or fails the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// skopeo runs skopeo with args and returns stdout; it fails the test on error.
func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	bin := testutil.RequireTool(t, "skopeo")
	cmd := exec.CommandContext(ctxFor(t, 30*time.Second), bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// skopeoFails runs skopeo expecting failure and returns its stderr.
func skopeoFails(t *testing.T, args ...string) string {
	t.Helper()
	bin := testutil.RequireTool(t, "skopeo")
	cmd := exec.CommandContext(ctxFor(t, 30*time.Second), bin, args...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("skopeo %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}
