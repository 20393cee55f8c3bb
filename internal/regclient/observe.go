package regclient

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/secrets"
)

// BlobStatus is what happened to a blob in a push.
type BlobStatus string

// Blob statuses, from least to most work done.
const (
	BlobExists  BlobStatus = "exists"  // the registry had it (HEAD 200)
	BlobMounted BlobStatus = "mounted" // cross-repository mount (POST ?mount= answered 201)
	BlobPushed  BlobStatus = "pushed"  // uploaded (PUT/POST ?digest= answered 201)
)

var blobRank = map[BlobStatus]int{BlobExists: 1, BlobMounted: 2, BlobPushed: 3}

// observer sees every request actually sent (below go-containerregistry's
// auth and retry transports) and derives, without changing anything but
// the size bound on manifests:
//   - every credential sent in an Authorization header, for the secrets;
//   - per-blob status from the requests' shapes, on any host (an upload
//     redirected to storage elsewhere counts too);
//   - bytes of upload bodies sent (PATCH/PUT/POST, not manifests);
//   - request counts.
type observer struct {
	next    http.RoundTripper
	secrets *secrets.Set

	sent     atomic.Int64
	requests atomic.Int64

	mu     sync.Mutex
	status map[v1.Hash]BlobStatus
}

func newObserver(next http.RoundTripper, s *secrets.Set) *observer {
	return &observer{next: next, secrets: s, status: map[v1.Hash]BlobStatus{}}
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	o.requests.Add(1)
	if h := req.Header.Get("Authorization"); h != "" {
		o.secrets.AddAuthHeader(h)
	}
	manifest := strings.Contains(req.URL.Path, "/manifests/")
	if isUpload(req) && !manifest {
		req = req.Clone(req.Context())
		req.Body = &countingBody{ReadCloser: req.Body, n: &o.sent}
	}
	resp, err := o.next.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	if manifest && req.Method == http.MethodGet {
		resp.Body = &limitedBody{rc: resp.Body, left: MaxManifestBytes, what: "manifest " + req.URL.Path}
	}
	o.markFrom(req, resp)
	return resp, nil
}

func isUpload(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return false
	}
	switch req.Method {
	case http.MethodPatch, http.MethodPut, http.MethodPost:
		return true
	}
	return false
}

func (o *observer) markFrom(req *http.Request, resp *http.Response) {
	q := req.URL.Query()
	p := req.URL.Path
	switch {
	case req.Method == http.MethodHead && strings.Contains(p, "/blobs/sha256:") && resp.StatusCode == http.StatusOK:
		o.mark(p[strings.LastIndex(p, "/")+1:], BlobExists)
	case req.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") != "" && resp.StatusCode == http.StatusCreated:
		o.mark(q.Get("mount"), BlobMounted)
	case (req.Method == http.MethodPut || req.Method == http.MethodPost) && q.Get("digest") != "" && resp.StatusCode == http.StatusCreated:
		o.mark(q.Get("digest"), BlobPushed)
	}
}

func (o *observer) mark(digest string, s BlobStatus) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if blobRank[s] > blobRank[o.status[h]] {
		o.status[h] = s
	}
}

// Uploaded returns the bytes of blob bodies this client has sent so far.
func (c *Client) Uploaded() int64 { return c.obs.sent.Load() }

// Requests returns the number of HTTP requests this client has sent so far
// (retries included).
func (c *Client) Requests() int64 { return c.obs.requests.Load() }

// BlobStatus returns what this client's requests did with blob h, if
// anything.
func (c *Client) BlobStatus(h v1.Hash) (BlobStatus, bool) {
	c.obs.mu.Lock()
	defer c.obs.mu.Unlock()
	s, ok := c.obs.status[h]
	return s, ok
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TooLargeError reports a registry answer larger than this client reads.
type TooLargeError struct {
	What  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes; not reading it", e.What, e.Limit)
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	what string
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells "exactly at the limit" from "over it".
		var one [1]byte
		if n, _ := l.rc.Read(one[:]); n > 0 {
			return 0, &TooLargeError{What: l.what, Limit: MaxManifestBytes}
		}
		return l.rc.Read(p)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
