package regclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// AccessError is a registry refusing access (HTTP 401 or 403). Its message
// names the registry, the repository and what was refused, and says where
// credentials come from, instead of the registry's raw answer.
type AccessError struct {
	Registry   string // "ghcr.io"
	Repository string // "acme/app"; "" when the request named none
	Action     string // the access refused: "pull" or "push"
	Status     int    // 401 or 403
	Answer     string // what the registry said: "UNAUTHORIZED: authentication required"
	// Credentials says where the credentials sent came from ("the Docker
	// config", "GITHUB_TOKEN"); "" when none were found for Registry.
	Credentials string
	Err         error // the registry's error
}

// Error names the registry, the repository and the access refused, and
// says where credentials come from.
func (e *AccessError) Error() string {
	head := fmt.Sprintf("registry %s refused %s access to %s (HTTP %d", e.Registry, e.Action, orThis(e.Repository), e.Status)
	if e.Answer != "" {
		head += " " + e.Answer
	}
	head += ")"
	if e.Credentials == "" {
		return head + ": no credentials for " + e.Registry + " were found. " + credentialSources(e.Registry)
	}
	return fmt.Sprintf("%s with the credentials from %s: check that they are current (`docker login %s`) and may %s %s. %s",
		head, e.Credentials, e.Registry, e.Action, orThis(e.Repository), credentialSources(e.Registry))
}

// Unwrap returns the registry's error.
func (e *AccessError) Unwrap() error { return e.Err }

func orThis(repo string) string {
	if repo == "" {
		return "this repository"
	}
	return repo
}

// credentialSources says where credentials for registry come from.
func credentialSources(registry string) string {
	s := fmt.Sprintf("Credentials come from the Docker config, ~/.docker/config.json (or config.json in $DOCKER_CONFIG), which `docker login %s` writes", registry)
	if registry == GHCR {
		return s + "; for ghcr.io also from GITHUB_TOKEN (pushing needs a token with packages: write)"
	}
	return s + "; GITHUB_TOKEN is used for ghcr.io only"
}

// accessError turns a denied registry answer inside err into an
// *AccessError; other errors are returned as they are.
func accessError(err error, sources *credentialLog) error {
	var terr *transport.Error
	if !IsDenied(err) || !errors.As(err, &terr) {
		return err
	}
	e := &AccessError{Status: terr.StatusCode, Err: err, Action: "pull"}
	if e.Status == 0 {
		e.Status = http.StatusUnauthorized
	}
	if len(terr.Errors) > 0 {
		d := terr.Errors[0]
		e.Answer = strings.TrimSuffix(string(d.Code)+": "+d.Message, ": ")
	}
	if req := terr.Request; req != nil && req.URL != nil {
		e.Registry = req.URL.Host
		e.Repository = repositoryOf(req.URL.Path, req.URL.Query().Get("scope"))
		if req.Method != http.MethodGet && req.Method != http.MethodHead || strings.Contains(req.URL.Query().Get("scope"), "push") {
			e.Action = "push"
		}
	}
	if e.Registry == "" {
		e.Registry = "the registry"
	}
	e.Credentials = sources.source(e.Registry)
	return &inContext{msg: strings.Replace(err.Error(), terr.Error(), e.Error(), 1), err: e}
}

// inContext is an error whose innermost part was replaced by a clearer
// one, keeping what the callers said around it ("push X: blob Y: …").
type inContext struct {
	msg string
	err error
}

// Error is the callers' text around the clearer error's.
func (e *inContext) Error() string { return e.msg }

// Unwrap returns the clearer error.
func (e *inContext) Unwrap() error { return e.err }

// repositoryOf reads the repository from a registry API path
// (/v2/<repo>/manifests/…, /v2/<repo>/blobs/…) or a token request's scope
// (repository:<repo>:pull,push).
func repositoryOf(p, scope string) string {
	if rest, ok := strings.CutPrefix(p, "/v2/"); ok {
		for _, kind := range []string{"/manifests/", "/blobs/", "/tags/"} {
			if i := strings.Index(rest, kind); i > 0 {
				return rest[:i]
			}
		}
	}
	if rest, ok := strings.CutPrefix(scope, "repository:"); ok {
		repo, _, _ := strings.Cut(rest, ":")
		return repo
	}
	return ""
}

// credentialLog remembers, per registry, where the credentials handed out
// came from ("" for none).
type credentialLog struct {
	mu      sync.Mutex
	sources map[string]string
}

func (l *credentialLog) record(registry, source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sources == nil {
		l.sources = map[string]string{}
	}
	l.sources[registry] = source
}

func (l *credentialLog) source(registry string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sources[registry]
}

// namedKeychain is a keychain and what its credentials are called in
// messages.
type namedKeychain struct {
	name string
	kc   authn.Keychain
}

// sourceKeychain tries its keychains in order, like authn.MultiKeychain,
// and can tell which one answered.
type sourceKeychain []namedKeychain

// Resolve returns the first keychain's credentials that are not anonymous.
func (k sourceKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	a, _, err := k.resolve(r)
	return a, err
}

func (k sourceKeychain) resolve(r authn.Resource) (authn.Authenticator, string, error) {
	for _, n := range k {
		a, err := n.kc.Resolve(r)
		if err != nil {
			return nil, "", err
		}
		if a != nil && a != authn.Anonymous {
			return a, n.name, nil
		}
	}
	return authn.Anonymous, "", nil
}
