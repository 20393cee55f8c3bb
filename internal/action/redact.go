package action

import (
	"io"
	"strings"
	"sync"
)

// redactor replaces secrets by "***" in everything written through it.
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

func newRedactor(w io.Writer, secrets ...string) *redactor {
	r := &redactor{w: w}
	for _, s := range secrets {
		r.add(s)
	}
	return r
}

func (r *redactor) add(s string) {
	if len(strings.TrimSpace(s)) < 4 { // masking tiny strings would mangle output
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, s)
}

// String redacts s.
func (r *redactor) String(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// Write redacts p before writing it. Log output is best effort: write
// errors are dropped so that go-githubactions (which panics on them) never
// panics.
func (r *redactor) Write(p []byte) (int, error) {
	_, _ = io.WriteString(r.w, r.String(string(p)))
	return len(p), nil
}

// redactedError hides secrets in an error message while keeping the chain
// for errors.As / errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (r *redactor) Err(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.String(err.Error()), err: err}
}
