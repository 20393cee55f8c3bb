// Package faultproxy is a fault-injecting HTTP reverse proxy for tests. It
// sits on loopback in front of a real registry (internal/testutil/registry)
// and, at a configurable rate (seeded PRNG, deterministic for a given request
// order) and/or on scripted rules (method + path regexp + nth occurrence),
// answers 500/502/503, 429 with Retry-After, drops the connection in the
// middle of a blob upload, stalls a response for a bounded time, or answers
// 404 BLOB_UNKNOWN once for the first HEAD/GET of a blob after its upload (as
// GHCR does transiently). It counts every fault it injected, per kind, so
// tests can assert the faults really happened.
//
// The proxy listens on 127.0.0.1:PORT, which go-containerregistry treats as
// an insecure (plain HTTP) registry automatically; push to Proxy.Host and
// read back from the registry directly.
package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind is a kind of injected fault.
type Kind string

// Fault kinds.
const (
	Status500   Kind = "500"
	Status502   Kind = "502"
	Status503   Kind = "503"
	Status429   Kind = "429"          // Too Many Requests with Retry-After: 1
	Status400   Kind = "400"          // a non-retryable MANIFEST_INVALID (not in AllKinds)
	Drop        Kind = "drop"         // read part of the body, then close the connection without answering
	Stall       Kind = "stall"        // wait Options.StallFor, then forward normally
	BlobUnknown Kind = "blob-unknown" // 404 BLOB_UNKNOWN
	// ManifestBlobUnknown answers 400 MANIFEST_BLOB_UNKNOWN, as a registry
	// does to a manifest PUT naming a blob it does not (yet) see; GHCR does
	// this transiently right after the blob's upload.
	ManifestBlobUnknown Kind = "manifest-blob-unknown"
	// ManifestUnknown answers 404 MANIFEST_UNKNOWN, as a registry on
	// eventually consistent storage does to a HEAD or GET of a tag for a
	// moment after the tag's manifest PUT.
	ManifestUnknown Kind = "manifest-unknown"
)

// AllKinds are the kinds drawn from by random faults when Options.Kinds is empty.
var AllKinds = []Kind{Status500, Status502, Status503, Status429, Drop, Stall}

// Rule injects Kind into requests matching Method (empty = any) and Path
// (nil = any). Nth (1-based) is the first matching occurrence to fault; 0
// means the first. Times is how many consecutive matches from Nth on are
// faulted; 0 means 1, and a negative value means every one (persistent).
type Rule struct {
	Method string
	Path   *regexp.Regexp
	Query  *regexp.Regexp // matched against the raw query (e.g. "digest=sha256:…"); nil = any
	Nth    int
	Times  int
	Kind   Kind

	seen int
}

// Options configure a proxy.
type Options struct {
	Target string  // upstream base URL, "http://127.0.0.1:PORT"
	Rate   float64 // fraction of requests (not matched by a rule) faulted at random
	Seed   int64   // PRNG seed for random faults
	Kinds  []Kind  // kinds drawn for random faults; empty = AllKinds
	// BlobUnknownOnce answers 404 BLOB_UNKNOWN to the first HEAD/GET of each
	// blob after the proxy saw its upload complete (201 to PUT ?digest=).
	BlobUnknownOnce bool
	StallFor        time.Duration // default 2s; always bounded by the request's context
	Rules           []*Rule
	// EchoAuth puts the request's Authorization header into the error body
	// of status faults, like a misbehaving registry might.
	EchoAuth bool
}

// Event is one injected fault.
type Event struct {
	Seq    int // the faulted request's arrival number (1-based) among all the proxy saw
	Kind   Kind
	Method string
	Path   string
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	Host string // "127.0.0.1:PORT"
	URL  string // "http://127.0.0.1:PORT"

	srv   *httptest.Server
	rp    *httputil.ReverseProxy
	opts  Options
	mu    sync.Mutex
	rnd   *rand.Rand
	rate  float64
	reqs  int
	seen  []string // "METHOD path" of every request, in arrival order
	count map[Kind]int
	log   []Event
	// uploaded digests whose first HEAD/GET has not been faulted yet
	pending map[string]bool
	uploads map[string]int
	// tlsHellos counts connections that opened with a TLS handshake
	// (a client trying HTTPS first); the plain-HTTP proxy answers them
	// 400 before any request, so they are not in seen.
	tlsHellos int
}

// Start starts a proxy and closes it at test cleanup.
func Start(t testing.TB, o Options) *Proxy {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// New starts a proxy; call Close when done.
func New(o Options) (*Proxy, error) {
	u, err := url.Parse(o.Target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: bad target %q", o.Target)
	}
	if o.StallFor <= 0 {
		o.StallFor = 2 * time.Second
	}
	if len(o.Kinds) == 0 {
		o.Kinds = AllKinds
	}
	p := &Proxy{
		opts:    o,
		rnd:     rand.New(rand.NewSource(o.Seed)),
		rate:    o.Rate,
		count:   map[Kind]int{},
		pending: map[string]bool{},
		uploads: map[string]int{},
	}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	// The registry's Location headers name its own host; rewrite them to
	// the proxy so every follow-up request comes through here too.
	p.rp.ModifyResponse = func(resp *http.Response) error {
		if loc := resp.Header.Get("Location"); loc != "" {
			resp.Header.Set("Location", strings.Replace(loc, u.Host, p.Host, 1))
		}
		return nil
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Listener = &sniffListener{Listener: p.srv.Listener, onTLS: p.sawTLS}
	p.srv.Start()
	p.URL = p.srv.URL
	p.Host = strings.TrimPrefix(p.srv.URL, "http://")
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// Ref returns "HOST/repo" through the proxy.
func (p *Proxy) Ref(repo string) string { return p.Host + "/" + repo }

// SetRate changes the random fault rate (e.g. 0 to stop faulting).
func (p *Proxy) SetRate(r float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = r
}

// Counts returns how many faults of each kind were injected.
func (p *Proxy) Counts() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(p.count))
	for k, v := range p.count {
		out[k] = v
	}
	return out
}

// Faults returns the total number of injected faults.
func (p *Proxy) Faults() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.count {
		n += v
	}
	return n
}

// Requests returns how many requests reached the proxy.
func (p *Proxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs
}

// Seen returns "METHOD path" of every request that reached the proxy, in
// arrival order, and forgets them: each call returns what came since the
// last.
func (p *Proxy) Seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.seen
	p.seen = nil
	return out
}

// TLSHellos returns how many connections opened with a TLS handshake
// (HTTPS attempts, which the plain-HTTP proxy refuses) and forgets them,
// as Seen does.
func (p *Proxy) TLSHellos() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.tlsHellos
	p.tlsHellos = 0
	return n
}

func (p *Proxy) sawTLS() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tlsHellos++
}

// sniffListener calls onTLS for each accepted connection whose first byte
// is a TLS handshake record (0x16).
type sniffListener struct {
	net.Listener
	onTLS func()
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, onTLS: l.onTLS}, nil
}

type sniffConn struct {
	net.Conn
	once  sync.Once
	onTLS func()
}

func (c *sniffConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.once.Do(func() {
			if b[0] == 0x16 {
				c.onTLS()
			}
		})
	}
	return n, err
}

// Uploads returns, per blob digest, how many uploads completed (201 to
// the final PUT ?digest=) through the proxy.
func (p *Proxy) Uploads() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.uploads))
	for k, v := range p.uploads {
		out[k] = v
	}
	return out
}

// Events returns every injected fault in order.
func (p *Proxy) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.log...)
}

// Summary renders the counts as "kind=n" pairs, sorted by kind.
func (p *Proxy) Summary() string {
	c := p.Counts()
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "requests=%d faults=%d", p.Requests(), p.Faults())
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, c[Kind(k)])
	}
	return b.String()
}

var blobPath = regexp.MustCompile(`^/v2/.+/blobs/(sha256:[0-9a-f]{64})$`)

// decide picks the fault for a request ("" = none) and records it.
func (p *Proxy) decide(r *http.Request) Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs++
	p.seen = append(p.seen, r.Method+" "+r.URL.Path)
	k := p.pick(r)
	if k != "" {
		p.count[k]++
		p.log = append(p.log, Event{Seq: p.reqs, Kind: k, Method: r.Method, Path: r.URL.Path})
	}
	return k
}

func (p *Proxy) pick(r *http.Request) Kind {
	for _, rule := range p.opts.Rules {
		if rule.Method != "" && rule.Method != r.Method {
			continue
		}
		if rule.Path != nil && !rule.Path.MatchString(r.URL.Path) {
			continue
		}
		if rule.Query != nil && !rule.Query.MatchString(r.URL.RawQuery) {
			continue
		}
		rule.seen++
		nth := max(rule.Nth, 1)
		times := rule.Times
		if times == 0 {
			times = 1
		}
		if rule.seen >= nth && (times < 0 || rule.seen < nth+times) {
			return rule.Kind
		}
	}
	if p.opts.BlobUnknownOnce && (r.Method == http.MethodHead || r.Method == http.MethodGet) {
		if m := blobPath.FindStringSubmatch(r.URL.Path); m != nil && p.pending[m[1]] {
			delete(p.pending, m[1])
			return BlobUnknown
		}
	}
	if p.rate > 0 && p.rnd.Float64() < p.rate {
		return p.opts.Kinds[p.rnd.Intn(len(p.opts.Kinds))]
	}
	return ""
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	switch k := p.decide(r); k {
	case "":
	case Status500, Status502, Status503, Status429, Status400:
		p.status(w, r, k)
		return
	case BlobUnknown:
		writeError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry", p.echo(r))
		return
	case ManifestBlobUnknown:
		writeError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", p.echo(r))
		return
	case ManifestUnknown:
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown", p.echo(r))
		return
	case Drop:
		p.drop(w, r)
		return
	case Stall:
		select {
		case <-time.After(p.opts.StallFor):
		case <-r.Context().Done():
			return
		}
	}
	rec := &statusRecorder{ResponseWriter: w}
	p.rp.ServeHTTP(rec, r)
	if r.Method == http.MethodPut && rec.code == http.StatusCreated && strings.Contains(r.URL.Path, "/blobs/uploads/") {
		if d := r.URL.Query().Get("digest"); d != "" {
			p.mu.Lock()
			p.uploads[d]++
			if p.opts.BlobUnknownOnce {
				p.pending[d] = true
			}
			p.mu.Unlock()
		}
	}
}

func (p *Proxy) echo(r *http.Request) string {
	if !p.opts.EchoAuth {
		return ""
	}
	return "request had Authorization: " + r.Header.Get("Authorization")
}

func (p *Proxy) status(w http.ResponseWriter, r *http.Request, k Kind) {
	switch k {
	case Status429:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "injected: too many requests", p.echo(r))
	case Status400:
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "injected: manifest invalid", p.echo(r))
	case Status500:
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "injected: internal server error", p.echo(r))
	case Status502:
		// A proxy in front of a registry answers HTML, not registry JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html><body>502 Bad Gateway (injected) %s</body></html>", p.echo(r))
	default:
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "injected: service unavailable", p.echo(r))
	}
}

// drop reads part of the request body (for a blob upload: its first half or
// 32 KiB, whichever is less) and closes the connection without answering.
func (p *Proxy) drop(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		limit := int64(32 << 10)
		if r.ContentLength > 0 && r.ContentLength/2 < limit {
			limit = r.ContentLength / 2
		}
		_, _ = io.CopyN(io.Discard, r.Body, limit)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	conn.Close()
}

func writeError(w http.ResponseWriter, code int, ecode, msg, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"errors":[{"code":%q,"message":%q,"detail":%q}]}`, ecode, strings.TrimSpace(msg+" "+detail), detail)
	_, _ = w.Write(b.Bytes())
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(c int) {
	s.code = c
	s.ResponseWriter.WriteHeader(c)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets the reverse proxy stream.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Silent starts a TCP listener on loopback that accepts every connection
// and never reads or answers — a registry that never answers (not even a
// TLS handshake) — and closes it at test cleanup. It returns its
// "127.0.0.1:PORT".
func Silent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// Closed returns a loopback "127.0.0.1:PORT" nothing listens on (a port
// just released): connecting to it is refused.
func Closed(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
