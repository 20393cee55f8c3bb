package regclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func deniedAt(method, rawURL string, status int, code transport.ErrorCode) error {
	u, _ := url.Parse(rawURL)
	return &transport.Error{
		StatusCode: status,
		Request:    &http.Request{Method: method, URL: u},
		Errors: []transport.Diagnostic{{Code: code, Message: "authentication required",
			Detail: []map[string]any{{"Type": "repository", "Name": "acme/app", "Action": "pull"}}}},
	}
}

func TestAccessErrorsSayWhereCredentialsComeFrom(t *testing.T) {
	tests := []struct {
		err         error
		source      string
		want, avoid []string
	}{{
		err:  fmt.Errorf("read ghcr.io/acme/app:latest: %w", deniedAt("GET", "https://ghcr.io/v2/acme/app/manifests/latest", 401, transport.UnauthorizedErrorCode)),
		want: []string{"read ghcr.io/acme/app:latest: registry ghcr.io refused pull access to acme/app (HTTP 401 UNAUTHORIZED: authentication required): no credentials for ghcr.io were found", "~/.docker/config.json", "$DOCKER_CONFIG", "`docker login ghcr.io`", "for ghcr.io also from GITHUB_TOKEN"},
	}, {
		err:    deniedAt("PUT", "https://ghcr.io/v2/acme/app/manifests/latest", 403, transport.DeniedErrorCode),
		source: "GITHUB_TOKEN",
		want:   []string{"registry ghcr.io refused push access to acme/app (HTTP 403 DENIED: authentication required) with the credentials from GITHUB_TOKEN: check that they are current", "may push acme/app", "packages: write"},
	}, {
		err:    deniedAt("HEAD", "http://127.0.0.1:5000/v2/x/y/blobs/sha256:00", 401, ""),
		source: "the Docker config",
		want:   []string{"registry 127.0.0.1:5000 refused pull access to x/y", "with the credentials from the Docker config", "GITHUB_TOKEN is used for ghcr.io only"},
	}}
	for _, tt := range tests {
		var log credentialLog
		if tt.source != "" {
			u := tt.err.(*transport.Error)
			log.record(u.Request.URL.Host, tt.source)
		}
		got := accessError(tt.err, &log)
		msg := got.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("message lacks %q:\n%s", w, msg)
			}
		}
		if strings.Contains(msg, "map[") {
			t.Errorf("message prints a Go map:\n%s", msg)
		}
		var ae *AccessError
		var terr *transport.Error
		if !errors.As(got, &ae) || !errors.As(got, &terr) || !IsDenied(got) {
			t.Errorf("the chain lost the access error or the registry's: %#v", got)
		}
	}
	// Other errors are left alone.
	other := fmt.Errorf("x: %w", &transport.Error{StatusCode: 500})
	if got := accessError(other, &credentialLog{}); got != other {
		t.Errorf("a 500 became %v", got)
	}
}

func TestKeychainNamesItsSource(t *testing.T) {
	ghcr, _ := name.NewRegistry("ghcr.io")
	other, _ := name.NewRegistry("registry.example")
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // an empty Docker config
	k := &recordingKeychain{kc: Keychain("ghs_token")}
	for _, tt := range []struct {
		r    authn.Resource
		want string
	}{{ghcr, "GITHUB_TOKEN"}, {other, ""}} {
		_, src, err := k.resolve(tt.r)
		if err != nil || src != tt.want {
			t.Errorf("%s: source %q (%v), want %q", tt.r.RegistryStr(), src, err, tt.want)
		}
	}
}
