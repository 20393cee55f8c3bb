package hostile

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
)

// Endpoint classifies a registry API request by its path.
type Endpoint string

// Endpoints.
const (
	EndpointPing      Endpoint = "ping"      // /v2/
	EndpointManifest  Endpoint = "manifest"  // /v2/<name>/manifests/<ref>
	EndpointBlob      Endpoint = "blob"      // /v2/<name>/blobs/<digest>
	EndpointUpload    Endpoint = "upload"    // /v2/<name>/blobs/uploads/...
	EndpointTags      Endpoint = "tags"      // /v2/<name>/tags/list
	EndpointReferrers Endpoint = "referrers" // /v2/<name>/referrers/<digest>
	EndpointOther     Endpoint = "other"
)

var (
	manifestPathRE  = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)
	blobPathRE      = regexp.MustCompile(`^/v2/(.+)/blobs/([a-z0-9]+:[0-9a-f]+)$`)
	uploadPathRE    = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/`)
	tagsPathRE      = regexp.MustCompile(`^/v2/(.+)/tags/list$`)
	referrersPathRE = regexp.MustCompile(`^/v2/(.+)/referrers/([^/]+)$`)
)

// Request is one request as the server saw it.
type Request struct {
	Seq      int      // 0-based arrival order across both listeners
	Listener Listener // Primary or Alt
	Host     string   // "127.0.0.1:PORT" (or AltHostname:PORT) it arrived on
	Method   string
	Path     string
	Query    string // raw query
	// Auth reports whether the request carried an Authorization header.
	Auth bool
	// Status is the response status, 0 while no headers were sent (a
	// stalled or still running request).
	Status int
	// BytesIn counts request body bytes the server read; BytesOut counts
	// response body bytes it wrote (headers are not counted).
	BytesIn, BytesOut int64
	// Behaviour is what a Rule made of the request (Pass when none).
	Behaviour Behaviour
	// Done reports whether the handler has returned.
	Done bool
}

// Endpoint classifies the request by path.
func (r Request) Endpoint() Endpoint {
	switch p := r.Path; {
	case p == "/v2/" || p == "/v2":
		return EndpointPing
	case uploadPathRE.MatchString(p):
		return EndpointUpload
	case manifestPathRE.MatchString(p):
		return EndpointManifest
	case blobPathRE.MatchString(p):
		return EndpointBlob
	case tagsPathRE.MatchString(p):
		return EndpointTags
	case referrersPathRE.MatchString(p):
		return EndpointReferrers
	}
	return EndpointOther
}

// Call renders the request as "METHOD PATH".
func (r Request) Call() string { return r.Method + " " + r.Path }

// String renders the request on one line for test logs.
func (r Request) String() string {
	s := fmt.Sprintf("#%d %s %s %s %d in=%d out=%d", r.Seq, r.Listener, r.Method, r.Path, r.Status, r.BytesIn, r.BytesOut)
	if r.Behaviour != Pass {
		s += " [" + string(r.Behaviour) + "]"
	}
	return s
}

// Requests is a snapshot of recorded requests, in arrival order.
type Requests []Request

// Where keeps requests with the given method ("" = any) whose path matches
// the regular expression pathRE ("" = any). It panics on a bad expression.
func (rs Requests) Where(method, pathRE string) Requests {
	var re *regexp.Regexp
	if pathRE != "" {
		re = regexp.MustCompile(pathRE)
	}
	return rs.Filter(func(r Request) bool {
		return (method == "" || r.Method == method) && (re == nil || re.MatchString(r.Path))
	})
}

// To keeps requests of the given endpoint class.
func (rs Requests) To(e Endpoint) Requests {
	return rs.Filter(func(r Request) bool { return r.Endpoint() == e })
}

// On keeps requests that arrived on listener l.
func (rs Requests) On(l Listener) Requests {
	return rs.Filter(func(r Request) bool { return r.Listener == l })
}

// Filter keeps requests for which keep returns true.
func (rs Requests) Filter(keep func(Request) bool) Requests {
	var out Requests
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// BytesIn sums request body bytes received.
func (rs Requests) BytesIn() int64 {
	var n int64
	for _, r := range rs {
		n += r.BytesIn
	}
	return n
}

// BytesOut sums response body bytes sent.
func (rs Requests) BytesOut() int64 {
	var n int64
	for _, r := range rs {
		n += r.BytesOut
	}
	return n
}

// Calls renders each request as "METHOD PATH", in order.
func (rs Requests) Calls() []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Call()
	}
	return out
}

// String renders one request per line.
func (rs Requests) String() string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// record is the live form of a Request; its counters change while the
// handler runs.
type record struct {
	req       Request // immutable fields
	behaviour atomic.Value
	status    atomic.Int64
	in, out   atomic.Int64
	done      atomic.Bool
}

func (rec *record) snapshot() Request {
	r := rec.req
	if b, ok := rec.behaviour.Load().(Behaviour); ok {
		r.Behaviour = b
	}
	r.Status = int(rec.status.Load())
	r.BytesIn = rec.in.Load()
	r.BytesOut = rec.out.Load()
	r.Done = rec.done.Load()
	return r
}

// countingBody counts request body bytes read.
type countingBody struct {
	io.ReadCloser
	rec *record
}

// Read reads and counts.
func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.rec.in.Add(int64(n))
	return n, err
}

// countingWriter records the status and counts response body bytes.
type countingWriter struct {
	http.ResponseWriter
	rec *record
}

// WriteHeader records the final status.
func (c *countingWriter) WriteHeader(code int) {
	if code >= 200 {
		c.rec.status.CompareAndSwap(0, int64(code))
	}
	c.ResponseWriter.WriteHeader(code)
}

// Write writes and counts.
func (c *countingWriter) Write(p []byte) (int, error) {
	c.rec.status.CompareAndSwap(0, http.StatusOK)
	n, err := c.ResponseWriter.Write(p)
	c.rec.out.Add(int64(n))
	return n, err
}

// Flush sends buffered data to the client.
func (c *countingWriter) Flush() {
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
