package hostile

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redirect is a set of redirects to the second (Alt) listener.
type Redirect uint

// Redirects; combine with |.
const (
	// RedirectUploadStart rewrites the Location of the upload POST to the
	// Alt host, so the blob's PATCH and PUT go there.
	RedirectUploadStart Redirect = 1 << iota
	// RedirectUploadCommit rewrites the Location of an upload PATCH to the
	// Alt host, so only the final PUT goes there.
	RedirectUploadCommit
	// RedirectBlobGet answers GET of a blob with 307 to the same path on
	// the Alt host (HEAD is answered by the registry itself).
	RedirectBlobGet
)

// Options configure a Server.
type Options struct {
	// Backend is the base URL of a real registry ("http://127.0.0.1:PORT")
	// to forward requests to; "" serves only canned shapes (Server.Serve)
	// and answers 404 to everything else but the /v2/ ping.
	Backend string
	// Rules script misbehaviour; more can be added with Server.AddRule.
	Rules []*Rule
	// Redirect chooses which requests are sent to the Alt listener.
	Redirect Redirect
	// AltHostname is the host name the Alt listener is known by in
	// redirects: "127.0.0.1" (default), "localhost" (same listener, a
	// different name), or another loopback IP such as "127.0.0.2" to bind.
	AltHostname string
	// AltAuthorization is an Authorization header value the Alt listener
	// adds to forwarded requests that carry none, standing in for a
	// pre-signed URL in front of a backend that requires auth (see
	// BasicAuthorization). Clients must not send their credentials there.
	AltAuthorization string
}

// Server is a running hostile registry with two loopback listeners.
type Server struct {
	Host    string // primary "127.0.0.1:PORT"
	URL     string // "http://" + Host
	AltHost string // second listener, AltHostname:PORT
	AltURL  string // "http://" + AltHost

	opts      Options
	backend   *url.URL
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	primary   *httptest.Server
	alt       *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	rules  []*Rule
	canned map[string]*object
	reqs   []*record
}

type ctxKey struct{}

// Start starts a Server and closes it at test cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a Server; call Close when done.
func New(o Options) (*Server, error) {
	s := &Server{opts: o, closing: make(chan struct{}), canned: map[string]*object{}}
	s.rules = append(s.rules, o.Rules...)
	if o.Backend != "" {
		u, err := url.Parse(o.Backend)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("hostile: bad backend %q", o.Backend)
		}
		s.backend = u
		s.transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
		s.proxy = &httputil.ReverseProxy{
			Rewrite:        s.rewrite,
			ModifyResponse: s.modifyResponse,
			Transport:      s.transport,
			ErrorLog:       log.New(io.Discard, "", 0),
			FlushInterval:  -1,
		}
	}
	altName := o.AltHostname
	if altName == "" {
		altName = "127.0.0.1"
	}
	altListener, err := listen(altName)
	if err != nil {
		return nil, err
	}
	s.primary = httptest.NewServer(s.handler(Primary))
	s.alt = httptest.NewUnstartedServer(s.handler(Alt))
	s.alt.Listener.Close()
	s.alt.Listener = altListener
	s.alt.Start()
	s.Host = strings.TrimPrefix(s.primary.URL, "http://")
	_, port, _ := net.SplitHostPort(altListener.Addr().String())
	s.AltHost = net.JoinHostPort(altName, port)
	s.URL, s.AltURL = "http://"+s.Host, "http://"+s.AltHost
	return s, nil
}

// listen binds a loopback port for the Alt listener: name's address when
// it is a loopback IP, else 127.0.0.1.
func listen(name string) (net.Listener, error) {
	addr := "127.0.0.1"
	if ip := net.ParseIP(name); ip != nil {
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("hostile: AltHostname %q is not loopback", name)
		}
		addr = ip.String()
	} else if name != "localhost" {
		return nil, fmt.Errorf("hostile: AltHostname %q: want a loopback IP or localhost", name)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return nil, fmt.Errorf("hostile: listen on %s: %w", addr, err)
	}
	return l, nil
}

// Close releases every stalled handler, then stops both listeners. It
// waits for all handlers to return.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		for _, srv := range []*httptest.Server{s.primary, s.alt} {
			srv.CloseClientConnections()
			srv.Close()
		}
		if s.transport != nil {
			s.transport.CloseIdleConnections()
		}
	})
}

// Ref returns "HOST/repo" on the primary listener.
func (s *Server) Ref(repo string) string { return s.Host + "/" + repo }

// AddRule adds a rule (evaluated after the existing ones).
func (s *Server) AddRule(r *Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, r)
}

// Requests returns a snapshot of every request recorded since Start or
// Reset, including those still running (see Settled).
func (s *Server) Requests() Requests {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(Requests, len(s.reqs))
	for i, rec := range s.reqs {
		out[i] = rec.snapshot()
	}
	return out
}

// Settled waits until every recorded request has been handled, except
// those a stall holds, and returns the snapshot. Use it rather than
// Requests once a client is done: a client can have read a whole response
// before the server's handler returns and its counters are final. The test
// fails if that takes more than 10 s.
func (s *Server) Settled(t testing.TB) Requests {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs := s.Requests()
		busy := rs.Filter(func(r Request) bool { return !r.Done && !r.Behaviour.stalls() })
		if len(busy) == 0 {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("hostile: requests still running after 10 s:\n%s", busy)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Reset forgets the recorded requests (rules keep their counts).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

// BytesReceived sums the request body bytes received on listener l (by
// the requests recorded so far; see Settled).
func (s *Server) BytesReceived(l Listener) int64 { return s.Requests().On(l).BytesIn() }

// begin records a request and picks its behaviour (first affecting rule wins).
func (s *Server) begin(l Listener, r *http.Request) (*record, *Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	host := s.Host
	if l == Alt {
		host = s.AltHost
	}
	rec := &record{req: Request{
		Seq: len(s.reqs), Listener: l, Host: host, Method: r.Method,
		Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization") != "",
	}}
	s.reqs = append(s.reqs, rec)
	for _, rule := range s.rules {
		if rule.matches(l, r) && rule.fire() {
			rec.behaviour.Store(rule.Behaviour)
			return rec, rule
		}
	}
	return rec, nil
}

// handler serves one listener.
func (s *Server) handler(l Listener) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, rule := s.begin(l, r)
		defer rec.done.Store(true)
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, rec: rec}
		}
		var cw http.ResponseWriter = &countingWriter{ResponseWriter: w, rec: rec}
		if rule != nil {
			var handled bool
			if cw, handled = s.misbehave(cw, r, rule); handled {
				return
			}
		}
		s.serve(cw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, l)), l)
	})
}

// serve answers a request normally: a blob redirect, canned content (on
// either listener), the backend, or (without one) a minimal registry that
// knows nothing.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, l Listener) {
	if l == Primary && s.redirectBlobGet(w, r) {
		return
	}
	if s.serveCanned(w, r) {
		return
	}
	if s.proxy != nil {
		s.proxy.ServeHTTP(w, r)
		return
	}
	s.serveEmpty(w, r)
}

// serveEmpty answers like a registry with nothing in it.
func (s *Server) serveEmpty(w http.ResponseWriter, r *http.Request) {
	switch (Request{Path: r.URL.Path}).Endpoint() {
	case EndpointPing:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		_, _ = io.WriteString(w, "{}")
	case EndpointManifest:
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown", nil)
	case EndpointBlob:
		writeError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry", nil)
	case EndpointUpload:
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "uploads need a backend", nil)
	default:
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry", nil)
	}
}

// wait blocks until the client goes away or the server closes.
func (s *Server) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.closing:
	}
}
