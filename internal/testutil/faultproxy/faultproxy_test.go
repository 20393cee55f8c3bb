package faultproxy

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/org/nix-layer-action/internal/testutil/registry"
)

var fast = remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1.5, Steps: 6}

func push(t *testing.T, ref string) error {
	t.Helper()
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(mustRef(t, ref), img, remote.WithRetryBackoff(fast),
		remote.WithRetryStatusCodes(http.StatusTooManyRequests, 500, 502, 503))
}

func TestRandomFaultsAreInjectedAndSurvived(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	p := Start(t, Options{Target: reg.URL(), Rate: 0.1, Seed: 1, StallFor: 50 * time.Millisecond})
	for i := range 5 {
		// A client that survives faults retries a whole push, as
		// internal/publish does: go-containerregistry alone gives each blob
		// upload (POST+PATCH+PUT) only 5 tries as a unit.
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = push(t, p.Ref("fp/random:latest")); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("push %d through 10%% faults: %v (%s)", i, err, p.Summary())
		}
	}
	if p.Faults() == 0 || p.Requests() <= p.Faults() {
		t.Fatalf("no faults injected: %s", p.Summary())
	}
	t.Log(p.Summary())
}

func TestRulePersistentManifestFailure(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	p := Start(t, Options{Target: reg.URL(), EchoAuth: true, Rules: []*Rule{
		{Method: http.MethodPut, Path: regexp.MustCompile(`/manifests/`), Times: -1, Kind: Status503},
	}})
	err := push(t, p.Ref("fp/manifest:latest"))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("push error = %v, want a 503 transport error", err)
	}
	if c := p.Counts()[Status503]; c < 2 {
		t.Fatalf("503 injected %d times, want retries (≥ 2)", c)
	}
	// The manifest never reached the registry.
	if _, err := remote.Head(mustRef(t, reg.Ref("fp/manifest:latest"))); err == nil {
		t.Fatal("manifest exists in the registry although every manifest PUT failed")
	}
}

func TestRuleNthAndBlobUnknownOnce(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	p := Start(t, Options{Target: reg.URL(), BlobUnknownOnce: true, Rules: []*Rule{
		{Method: http.MethodPatch, Nth: 2, Kind: Drop},
	}})
	if err := push(t, p.Ref("fp/nth:latest")); err != nil {
		t.Fatalf("push: %v", err)
	}
	if c := p.Counts()[Drop]; c != 1 {
		t.Fatalf("drops = %d, want exactly 1 (the 2nd PATCH): %v", c, p.Events())
	}
	// Every uploaded blob answers BLOB_UNKNOWN once, then is found.
	img, err := remote.Image(mustRef(t, reg.Ref("fp/nth:latest")))
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	d, _ := ls[0].Digest()
	u := p.URL + "/v2/fp/nth/blobs/" + d.String()
	for i, want := range []int{http.StatusNotFound, http.StatusOK} {
		resp, err := http.Head(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("HEAD %d of an uploaded blob = %d, want %d", i, resp.StatusCode, want)
		}
	}
	if p.Counts()[BlobUnknown] < 1 || !strings.Contains(p.Summary(), "blob-unknown=") {
		t.Fatalf("blob-unknown not counted: %s", p.Summary())
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
