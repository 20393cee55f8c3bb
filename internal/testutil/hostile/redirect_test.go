package hostile

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// blobBytes sums the sizes of img's layers and config.
func blobBytes(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(128<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// requireSameImage fails unless ref in the registry is img.
func requireSameImage(t *testing.T, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	want, _ := img.Digest()
	desc, err := remote.Head(mustRef(t, ref), opts...)
	if err != nil || desc.Digest != want {
		t.Fatalf("%s: %v %v, want %s", ref, desc, err, want)
	}
}

func TestRedirectUploadsAndBlobGets(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	s := Start(t, Options{Backend: reg.URL(), Redirect: RedirectUploadStart | RedirectBlobGet})
	img := randomImage(t)
	if err := remote.Write(mustRef(t, s.Ref("redir/up:v1")), img); err != nil {
		t.Fatalf("push through redirecting registry: %v\n%s", err, s.Settled(t))
	}
	requireSameImage(t, reg.Ref("redir/up:v1"), img)
	reqs := s.Settled(t)
	alt, primary := reqs.On(Alt), reqs.On(Primary)
	if got, want := alt.BytesIn(), blobBytes(t, img); got != want || s.BytesReceived(Alt) != want {
		t.Errorf("the second host received %d bytes, want every blob's %d:\n%s", got, want, reqs)
	}
	if n := len(alt.Where(http.MethodPatch, "")); n != 3 || len(alt.Where(http.MethodPut, "")) != 3 {
		t.Errorf("want 3 PATCH and 3 PUT on the second host:\n%s", reqs)
	}
	if up := primary.To(EndpointUpload); up.BytesIn() != 0 || len(up.Where(http.MethodPost, "")) != 3 {
		t.Errorf("want only the 3 upload POSTs, without body, on the registry host:\n%s", reqs)
	}

	s.Reset()
	pulled, err := remote.Image(mustRef(t, s.Ref("redir/up:v1")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pulled.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	layers, _ := pulled.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		size, _ := l.Size()
		if err := readDigest(l.Compressed, d.String(), size); err != nil {
			t.Fatalf("pull through blob redirects: %v\n%s", err, s.Settled(t))
		}
	}
	reqs = s.Settled(t)
	if got := reqs.On(Primary).To(EndpointBlob).Filter(func(r Request) bool { return r.Status != http.StatusTemporaryRedirect }); len(got) != 0 {
		t.Errorf("blob GETs the registry host answered itself:\n%s", got)
	}
	if got, want := reqs.On(Alt).BytesOut(), blobBytes(t, img); got != want {
		t.Errorf("the second host sent %d bytes, want %d:\n%s", got, want, reqs)
	}
}

func TestRedirectUploadCommit(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	s := Start(t, Options{Backend: reg.URL(), Redirect: RedirectUploadCommit})
	img := randomImage(t)
	if err := remote.Write(mustRef(t, s.Ref("redir/commit:v1")), img); err != nil {
		t.Fatal(err)
	}
	requireSameImage(t, reg.Ref("redir/commit:v1"), img)
	reqs := s.Settled(t)
	if len(reqs.On(Alt)) != 3 || len(reqs.On(Alt).Where(http.MethodPut, "/blobs/uploads/")) != 3 || reqs.On(Alt).BytesIn() != 0 {
		t.Fatalf("want exactly the 3 (empty) commit PUTs on the second host:\n%s", reqs)
	}
	if got, want := reqs.On(Primary).Where(http.MethodPatch, "").BytesIn(), blobBytes(t, img); got != want {
		t.Fatalf("PATCHes on the registry host carried %d bytes, want %d", got, want)
	}
}

// Behind a registry requiring auth, the second host stands in for a
// pre-signed URL: the client's credentials must not (and do not) go there.
func TestRedirectWithAuthBackend(t *testing.T) {
	reg := registry.Start(t, registry.Options{Htpasswd: map[string]string{"u": "p"}})
	auth := remote.WithAuth(&authn.Basic{Username: "u", Password: "p"})
	img := randomImage(t)

	bare := Start(t, Options{Backend: reg.URL(), Redirect: RedirectUploadStart})
	if err := remote.Write(mustRef(t, bare.Ref("redir/auth:v1")), img, auth, remote.WithRetryBackoff(fast)); err == nil {
		t.Fatal("push succeeded although the second host had no credentials for the backend")
	}

	s := Start(t, Options{Backend: reg.URL(), Redirect: RedirectUploadStart, AltAuthorization: BasicAuthorization("u", "p")})
	if err := remote.Write(mustRef(t, s.Ref("redir/auth:v1")), img, auth); err != nil {
		t.Fatalf("push: %v\n%s", err, s.Settled(t))
	}
	requireSameImage(t, reg.Ref("redir/auth:v1"), img, auth)
	reqs := s.Settled(t)
	if leaked := reqs.On(Alt).Filter(func(r Request) bool { return r.Auth }); len(leaked) != 0 || len(reqs.On(Alt)) == 0 {
		t.Fatalf("credentials sent to the second host (or nothing went there):\n%s", reqs)
	}
	if authed := reqs.On(Primary).Where(http.MethodPut, "/manifests/").Filter(func(r Request) bool { return r.Auth }); len(authed) != 1 {
		t.Fatalf("want one authenticated manifest PUT on the registry host:\n%s", reqs)
	}
}

// How ggcr treats the second host's name: another port of 127.0.0.1 or
// "localhost" are followed; another loopback IP is refused (SSRF guard).
func TestRedirectAltHostnames(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	for _, tc := range []struct {
		name    string
		refused bool
	}{{"127.0.0.1", false}, {"localhost", false}, {"127.0.0.2", true}} {
		if l, err := net.Listen("tcp", tc.name+":0"); err != nil {
			t.Logf("%s: cannot listen here (%v); skipped", tc.name, err)
			continue
		} else {
			l.Close()
		}
		s := Start(t, Options{Backend: reg.URL(), Redirect: RedirectUploadStart, AltHostname: tc.name})
		if !strings.HasPrefix(s.AltHost, tc.name+":") || s.AltHost == s.Host {
			t.Fatalf("AltHost = %q for %q (Host %q)", s.AltHost, tc.name, s.Host)
		}
		err := remote.Write(mustRef(t, s.Ref("redir/"+tc.name+":v1")), randomImage(t), remote.WithRetryBackoff(fast))
		if refused := err != nil && strings.Contains(err.Error(), "SSRF"); refused != tc.refused {
			t.Errorf("%s: push err = %v, want refused: %v", tc.name, err, tc.refused)
		}
		if n := len(s.Settled(t).On(Alt)); (n == 0) != tc.refused {
			t.Errorf("%s: %d requests reached the second host", tc.name, n)
		}
	}
}

func TestRedirectSkopeoCopy(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	s := Start(t, Options{Backend: reg.URL(), Redirect: RedirectUploadStart | RedirectBlobGet})
	img := randomImage(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	skopeo(t, "copy", "--insecure-policy", "--dest-tls-verify=false", "oci:"+dir, "docker://"+s.Ref("redir/skopeo:v1"))
	m, _ := img.Manifest()
	desc, err := remote.Get(mustRef(t, reg.Ref("redir/skopeo:v1")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil || len(got.Layers) != len(m.Layers) || got.Layers[0].Digest != m.Layers[0].Digest {
		t.Fatalf("skopeo's image in the registry: %+v, err %v", got, err)
	}
	if alt := s.Settled(t).On(Alt); alt.BytesIn() < blobBytes(t, img) {
		t.Fatalf("the second host received %d bytes, want at least %d:\n%s", alt.BytesIn(), blobBytes(t, img), s.Settled(t))
	}
	out := t.TempDir()
	skopeo(t, "copy", "--insecure-policy", "--src-tls-verify=false", "docker://"+s.Ref("redir/skopeo:v1"), "oci:"+out)
	if n := len(s.Settled(t).On(Primary).To(EndpointBlob).Filter(func(r Request) bool { return r.Status == http.StatusTemporaryRedirect })); n == 0 {
		t.Fatalf("skopeo's pull was not redirected:\n%s", s.Settled(t))
	}
}

// Canned blobs are redirected too, and the second host serves them.
func TestRedirectCannedBlob(t *testing.T) {
	s := Start(t, Options{Redirect: RedirectBlobGet})
	served := s.Serve(t, "redir/canned", "v1", Shape{Kind: ConfigNotJSON})
	img, err := remote.Image(mustRef(t, served.Ref))
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := img.RawConfigFile(); err != nil || digestOf(raw) != served.ConfigDigest {
		t.Fatalf("config %q, err %v", raw, err)
	}
	blobs := s.Settled(t).To(EndpointBlob)
	if len(blobs) != 2 || blobs[0].Listener != Primary || blobs[0].Status != http.StatusTemporaryRedirect ||
		blobs[1].Listener != Alt || blobs[1].Status != http.StatusOK || blobs[1].BytesOut != served.ConfigSize {
		t.Fatalf("want a 307 on the registry host, then the config from the second host:\n%s", blobs)
	}
}
