package binarycache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// CutOptions configure Cut.
type CutOptions struct {
	// Times is how many NAR transfers are cut short (0 means 1; negative
	// means every one).
	Times int
	// NoRanges hides byte-range support: the Range request header is not
	// forwarded and Accept-Ranges is removed from answers, as a cache that
	// serves no ranges would.
	NoRanges bool
}

// CutProxy sits in front of a cache server (nginx) and cuts NAR
// transfers short: it forwards a NAR answer's status and headers
// (Content-Length included) and half of its body, then closes the
// connection, as a cache or proxy dropping the connection would. Other
// requests, and NAR transfers once Times were cut, pass through.
type CutProxy struct {
	URL string // http://127.0.0.1:PORT

	backend string
	opts    CutOptions
	srv     *httptest.Server
	mu      sync.Mutex
	cuts    int
	ranges  []string // Range headers of NAR requests, in order ("" for none)
}

// Cut starts a cutting proxy in front of backend (a cache's base URL) and
// closes it at test cleanup.
func Cut(t testing.TB, backend string, o CutOptions) *CutProxy {
	t.Helper()
	if o.Times == 0 {
		o.Times = 1
	}
	p := &CutProxy{backend: strings.TrimSuffix(backend, "/"), opts: o}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	t.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// Cuts returns how many transfers were cut short.
func (p *CutProxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// NARRanges returns the Range header of every NAR request received, in
// order ("" when it had none).
func (p *CutProxy) NARRanges() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ranges...)
}

func (p *CutProxy) serve(w http.ResponseWriter, r *http.Request) {
	nar := strings.HasPrefix(r.URL.Path, "/nar/")
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.backend+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, h := range []string{"Authorization", "Range", "If-Range", "Accept-Encoding"} {
		if v := r.Header.Get(h); v != "" && !(p.opts.NoRanges && (h == "Range" || h == "If-Range")) {
			out.Header.Set(h, v)
		}
	}
	if nar {
		p.mu.Lock()
		p.ranges = append(p.ranges, r.Header.Get("Range"))
		p.mu.Unlock()
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if p.opts.NoRanges {
		w.Header().Del("Accept-Ranges")
	}
	w.WriteHeader(resp.StatusCode)
	ok := resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent
	if !nar || !ok || resp.ContentLength < 2 || !p.take() {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	_, _ = io.CopyN(w, resp.Body, resp.ContentLength/2)
	w.(http.Flusher).Flush()
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}

// take reports whether this transfer is to be cut, counting it.
func (p *CutProxy) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opts.Times >= 0 && p.cuts >= p.opts.Times {
		return false
	}
	p.cuts++
	return true
}
