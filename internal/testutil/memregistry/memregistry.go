// Package memregistry starts go-containerregistry's in-memory registry for
// fast unit tests, behind a request log so a test can assert which
// requests were made (and with which User-Agent). Integration tests use
// the real registry (internal/testutil/registry).
package memregistry

import (
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// Registry is a running in-memory registry.
type Registry struct {
	// Host is the registry's host:port (plain HTTP on loopback, which
	// go-containerregistry talks without TLS).
	Host string

	mu     sync.Mutex
	reqs   []string       // "METHOD PATH"
	agents map[string]int // User-Agent → requests
}

// Start starts an in-memory registry, stopped when the test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{agents: map[string]int{}}
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		r.agents[req.Header.Get("User-Agent")]++
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// Requests are the requests made since the start or the last Take or
// Reset, each "METHOD PATH", in order.
func (r *Registry) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// Take returns Requests and forgets them.
func (r *Registry) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// Reset forgets the requests made so far.
func (r *Registry) Reset() { r.Take() }

// UserAgents counts the requests made by each User-Agent since the start.
func (r *Registry) UserAgents() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.agents)
}
