// Package secrets holds the secrets of one run — tokens, registry
// credentials the keychain hands out, Authorization headers actually sent,
// access-tokens from nix.conf, netrc passwords — and redacts them from
// strings, errors and writers. It is the only redaction code in the
// project: every log writer of a run is a Set's Writer, every error that
// leaves the run goes through Set.Error.
//
// A secret is redacted in every form it is likely to be echoed in: as is,
// URL-encoded, and base64-encoded; a Basic credential also as
// base64("user:password"). Secrets added while a run is in progress (an
// Authorization header discovered on the wire) are redacted from
// everything written after they were added.
package secrets

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Mask replaces every secret.
const Mask = "***"

// MinLen is the length of the shortest secret that is redacted: shorter
// strings would garble messages without protecting anything.
const MinLen = 4

// Set is the secrets of one run. It is safe for concurrent use; the zero
// value is an empty set ready to use, and a nil *Set redacts nothing.
type Set struct {
	mu    sync.RWMutex
	seen  map[string]bool
	forms []string // every form of every secret, longest first
}

// New returns a Set holding values.
func New(values ...string) *Set {
	s := &Set{}
	for _, v := range values {
		s.Add(v)
	}
	return s
}

// Add registers a secret (and its URL-encoded and base64 forms). Blank or
// too-short values are ignored.
func (s *Set) Add(v string) {
	if s == nil {
		return
	}
	v = strings.TrimSpace(v)
	if len(v) < MinLen {
		return
	}
	s.addForms(v, url.QueryEscape(v), url.PathEscape(v), base64.StdEncoding.EncodeToString([]byte(v)))
}

// AddBasic registers a user/password pair: the password, and the
// base64("user:password") credential of a Basic Authorization header.
func (s *Set) AddBasic(user, password string) {
	if s == nil || password == "" {
		return
	}
	s.Add(password)
	s.Add(base64.StdEncoding.EncodeToString([]byte(user + ":" + password)))
}

// AddAuthHeader registers what an Authorization header value sent on the
// wire carries ("Basic <b64>", "Bearer <token>", or a bare credential): the
// whole value, the credential and, for Basic, the decoded password.
func (s *Set) AddAuthHeader(h string) {
	if s == nil || strings.TrimSpace(h) == "" {
		return
	}
	s.Add(h)
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return
	}
	cred = strings.TrimSpace(cred)
	s.Add(cred)
	if strings.EqualFold(scheme, "basic") {
		if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
			user, pw, _ := strings.Cut(string(dec), ":")
			s.AddBasic(user, pw)
		}
	}
}

// AddNixConf registers the tokens of nix.conf text (see NixConfTokens).
func (s *Set) AddNixConf(conf string) {
	for _, tok := range NixConfTokens(conf) {
		s.Add(tok)
	}
}

// NixConfTokens returns the tokens of every access-tokens (or
// extra-access-tokens) line of nix.conf text ("host=token …").
func NixConfTokens(conf string) []string {
	var out []string
	for _, l := range strings.Split(conf, "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.TrimPrefix(strings.TrimSpace(k), "extra-") != "access-tokens" {
			continue
		}
		for _, f := range strings.Fields(v) {
			if _, tok, ok := strings.Cut(f, "="); ok && tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}

func (s *Set) addForms(forms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	changed := false
	for _, f := range forms {
		if len(f) >= MinLen && !s.seen[f] {
			s.seen[f] = true
			s.forms = append(s.forms, f)
			changed = true
		}
	}
	if changed {
		// Longest first, so a secret is replaced before any part of it.
		slices.SortFunc(s.forms, func(a, b string) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			return strings.Compare(a, b)
		})
	}
}

// Values returns the secrets as registered (every form), longest first,
// e.g. for the runner's ::add-mask:: command.
func (s *Set) Values() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.forms)
}

// String returns str with every secret replaced by Mask.
func (s *Set) String(str string) string {
	if s == nil {
		return str
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.forms {
		if strings.Contains(str, f) {
			str = strings.ReplaceAll(str, f, Mask)
		}
	}
	return str
}

// Error returns err with its text redacted; errors.Is and errors.As still
// see the original chain. A nil error stays nil.
func (s *Set) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := s.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &Error{msg: msg, err: err}
}

// Error is an error whose text has had the run's secrets removed. Unwrap
// gives the original for errors.Is/As; print only Error().
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *Error) Unwrap() error { return e.err }
