package hostile

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// What a run that changes nothing would do: read manifest and config of
// the previous image, HEAD the tag. The counter sees exactly that.
func TestRequestsAreCounted(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	s := Start(t, Options{Backend: reg.URL()})
	img := randomImage(t)
	if err := remote.Write(mustRef(t, s.Ref("count/x:v1")), img); err != nil {
		t.Fatal(err)
	}
	if len(s.Settled(t).Where(http.MethodPut, `/manifests/v1$`)) != 1 {
		t.Fatalf("push not seen:\n%s", s.Settled(t))
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Fatal("Reset kept requests")
	}

	ref := mustRef(t, s.Ref("count/x:v1"))
	tr := remote.WithTransport(&http.Transport{})
	got, err := remote.Image(ref, tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref, tr); err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigName()
	want := []string{
		"GET /v2/", "GET /v2/count/x/manifests/v1", "GET /v2/count/x/blobs/" + cfg.String(),
		"GET /v2/", "HEAD /v2/count/x/manifests/v1",
	}
	reqs := s.Settled(t)
	if !slices.Equal(reqs.Calls(), want) {
		t.Fatalf("calls:\n%s\nwant %q", reqs, want)
	}
	raw, _ := img.RawManifest()
	m := reqs.To(EndpointManifest)
	if len(m) != 2 || m[0].BytesOut != int64(len(raw)) || m[1].BytesOut != 0 || m[1].Method != http.MethodHead {
		t.Fatalf("manifest requests:\n%s", m)
	}
	cfgSize, _ := img.RawConfigFile()
	if b := reqs.To(EndpointBlob); len(b) != 1 || b[0].BytesOut != int64(len(cfgSize)) || b[0].Status != http.StatusOK {
		t.Fatalf("blob requests:\n%s", b)
	}
	if len(reqs.To(EndpointPing)) != 2 || len(reqs.On(Alt)) != 0 || reqs.BytesIn() != 0 {
		t.Fatalf("requests:\n%s", reqs)
	}
	for i, r := range reqs {
		if r.Seq != i || !r.Done || r.Host != s.Host || r.Listener != Primary {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
}

func TestEndpointsAndRules(t *testing.T) {
	for path, want := range map[string]Endpoint{
		"/v2/":                            EndpointPing,
		"/v2/a/b/manifests/latest":        EndpointManifest,
		"/v2/a/blobs/sha256:0123abcd":     EndpointBlob,
		"/v2/a/blobs/uploads/":            EndpointUpload,
		"/v2/a/blobs/uploads/3f2a-11":     EndpointUpload,
		"/v2/a/tags/list":                 EndpointTags,
		"/v2/a/referrers/sha256:0123abcd": EndpointReferrers,
		"/v2/_catalog":                    EndpointOther,
	} {
		if got := (Request{Path: path}).Endpoint(); got != want {
			t.Errorf("Endpoint(%s) = %s, want %s", path, got, want)
		}
	}
	// Nth and Times: the 2nd and 3rd matching requests, on the primary only.
	r := &Rule{Method: http.MethodGet, Path: regexp.MustCompile(`/manifests/`), On: Primary, Nth: 2, Times: 2}
	get := &http.Request{Method: http.MethodGet, URL: mustURL(t, "/v2/a/manifests/x")}
	if r.matches(Alt, get) || !r.matches(Primary, get) {
		t.Fatal("listener not honoured")
	}
	var fired []bool
	for range 5 {
		fired = append(fired, r.fire())
	}
	if !slices.Equal(fired, []bool{false, true, true, false, false}) {
		t.Fatalf("fired %v", fired)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
