package regclient

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ParseReference reads an image reference ("ghcr.io/acme/app:1.2") and
// says what to change when it is not one: a URL scheme is dropped (a
// registry on 127.0.0.1 or localhost is reached over plain HTTP without
// it), and a repository must be lowercase. Other problems are the
// library's message.
func ParseReference(s string) (name.Reference, error) {
	if scheme, rest, ok := strings.Cut(s, "://"); ok && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
		if _, err := name.ParseReference(rest); err != nil {
			rest = lowerRepository(rest) // the suggestion must itself be a reference
		}
		return nil, fmt.Errorf("an image reference has no URL scheme: write %q (drop %s://; registries on 127.0.0.1 or localhost are reached over plain HTTP automatically)", rest, scheme)
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("the image reference is empty; write one like ghcr.io/acme/app:latest")
	}
	r, err := name.ParseReference(s)
	if err == nil {
		return r, nil
	}
	if lower := lowerRepository(s); lower != s {
		if _, lerr := name.ParseReference(lower); lerr == nil {
			return nil, fmt.Errorf("repository names must be lowercase: write %q", lower)
		}
	}
	return nil, fmt.Errorf("%q is not an image reference like ghcr.io/acme/app:latest: %v", s, err)
}

// lowerRepository lowercases the registry and repository of s, keeping the
// tag or digest as written.
func lowerRepository(s string) string {
	repo, suffix := s, ""
	if i := strings.IndexByte(s, '@'); i >= 0 {
		repo, suffix = s[:i], s[i:]
	}
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, suffix = repo[:i], repo[i:]+suffix
	}
	return strings.ToLower(repo) + suffix
}
