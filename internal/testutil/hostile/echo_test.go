package hostile

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// A password with characters JSON and HTML escaping would change.
const (
	echoUser     = "alice"
	echoPassword = `s3cr&t<"pa:ss>`
)

func TestEchoAuth401(t *testing.T) {
	s := Start(t, Options{Rules: []*Rule{{Times: -1, Behaviour: EchoAuth401}}})
	_, err := remote.Image(mustRef(t, s.Ref("echo/x:v1")), remote.WithAuth(&authn.Basic{Username: echoUser, Password: echoPassword}))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401 transport error", err)
	}
	raw := BasicAuthorization(echoUser, echoPassword)
	for _, want := range []string{raw, echoUser + ":" + echoPassword} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ggcr's error %q does not repeat %q", err, want)
		}
	}
	// The ping was challenged without credentials; the manifest GET carried them.
	reqs := s.Settled(t)
	if len(reqs) != 2 || reqs[0].Endpoint() != EndpointPing || reqs[0].Auth || !reqs[1].Auth || reqs[1].Endpoint() != EndpointManifest {
		t.Fatalf("want an unauthenticated ping, then an authenticated manifest GET:\n%s", reqs)
	}
}

func TestEchoAuthBodies(t *testing.T) {
	s := Start(t, Options{Rules: []*Rule{
		{Path: regexp.MustCompile(`^/v2/$`), Times: -1, Behaviour: EchoAuth401},
		{Path: regexp.MustCompile(`/manifests/`), Times: -1, Behaviour: EchoAuth403},
	}})
	raw := BasicAuthorization(echoUser, echoPassword)
	for _, tc := range []struct {
		path, code string
		status     int
		challenge  bool
	}{
		{"/v2/", "UNAUTHORIZED", http.StatusUnauthorized, true},
		{"/v2/echo/x/manifests/v1", "DENIED", http.StatusForbidden, false},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+tc.path, nil)
		req.Header.Set("Authorization", raw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Errors []struct {
				Code    string
				Message string
				Detail  map[string]string
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || len(body.Errors) != 1 {
			t.Fatalf("%s: status %d, body %+v, err %v", tc.path, resp.StatusCode, body, err)
		}
		e := body.Errors[0]
		if e.Code != tc.code || e.Detail["authorization"] != raw || e.Detail["decoded"] != echoUser+":"+echoPassword ||
			!strings.Contains(e.Message, raw) || !strings.Contains(e.Message, echoUser+":"+echoPassword) {
			t.Errorf("%s: error %+v does not echo %q verbatim and decoded", tc.path, e, raw)
		}
		if got := resp.Header.Get("WWW-Authenticate"); (got == `Basic realm="hostile"`) != tc.challenge {
			t.Errorf("%s: WWW-Authenticate = %q, challenge wanted: %v", tc.path, got, tc.challenge)
		}
	}
}

func TestEchoAuth403ThroughGGCRAndSkopeo(t *testing.T) {
	s := Start(t, Options{Rules: []*Rule{
		{Path: regexp.MustCompile(`^/v2/$`), Times: -1, Behaviour: EchoAuth401},
		{Path: regexp.MustCompile(`/manifests/`), Times: -1, Behaviour: EchoAuth403},
	}})
	// ggcr reads credentials from a Docker config, as the product does.
	t.Setenv("DOCKER_CONFIG", DockerConfigDir(t, echoUser, echoPassword, s.Host))
	_, err := remote.Image(mustRef(t, s.Ref("echo/x:v1")), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), echoUser+":"+echoPassword) {
		t.Fatalf("err = %v, want a 403 repeating the credential", err)
	}
	out := skopeoFails(t, "inspect", "--raw", "--tls-verify=false", "--creds", echoUser+":"+echoPassword, "docker://"+s.Ref("echo/x:v1"))
	if !strings.Contains(out, BasicAuthorization(echoUser, echoPassword)[len("Basic "):]) {
		t.Fatalf("skopeo's error does not repeat the credential:\n%s", out)
	}
	if n := len(s.Settled(t).To(EndpointManifest).Filter(func(r Request) bool { return r.Auth && r.Status == http.StatusForbidden })); n < 2 {
		t.Fatalf("want authenticated 403 manifest requests from both clients:\n%s", s.Settled(t))
	}
}
