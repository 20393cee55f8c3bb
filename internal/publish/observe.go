package publish

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Blob statuses in Result.Status.
const (
	StatusPushed  = "pushed"
	StatusExists  = "exists"
	StatusMounted = "mounted"
)

var statusRank = map[string]int{StatusExists: 1, StatusMounted: 2, StatusPushed: 3}

// observer is the innermost RoundTripper under go-containerregistry's own
// auth/retry transports. It sees every request actually sent and derives,
// without changing anything:
//   - per-blob status: HEAD blob 200 → exists; POST upload ?mount=&from=
//     answered 201 → mounted; PUT upload ?digest= answered 201 → pushed;
//   - bytes of blob bodies sent (PATCH/PUT to blob uploads);
//   - every credential sent in an Authorization header (to redact errors).
type observer struct {
	next   http.RoundTripper
	prefix string // "/v2/<repo>/blobs/"

	sent atomic.Int64

	mu      sync.Mutex
	status  map[v1.Hash]string
	secrets map[string]bool
}

func newObserver(next http.RoundTripper, repo string) *observer {
	return &observer{
		next:    next,
		prefix:  "/v2/" + repo + "/blobs/",
		status:  map[v1.Hash]string{},
		secrets: map[string]bool{},
	}
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.Header.Get("Authorization"); h != "" {
		o.addAuthHeader(h)
	}
	p := req.URL.Path
	if !strings.HasPrefix(p, o.prefix) {
		return o.next.RoundTrip(req)
	}
	rest := strings.TrimPrefix(p, o.prefix)
	upload := strings.HasPrefix(rest, "uploads/")
	if upload && req.Body != nil && req.Body != http.NoBody && (req.Method == http.MethodPatch || req.Method == http.MethodPut || req.Method == http.MethodPost) {
		req = req.Clone(req.Context())
		req.Body = &countingBody{ReadCloser: req.Body, n: &o.sent}
	}
	resp, err := o.next.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	q := req.URL.Query()
	switch {
	case req.Method == http.MethodHead && !upload && resp.StatusCode == http.StatusOK:
		o.mark(rest, StatusExists)
	case req.Method == http.MethodPost && upload && q.Get("mount") != "" && q.Get("from") != "" && resp.StatusCode == http.StatusCreated:
		o.mark(q.Get("mount"), StatusMounted)
	case (req.Method == http.MethodPut || req.Method == http.MethodPost) && upload && q.Get("digest") != "" && resp.StatusCode == http.StatusCreated:
		o.mark(q.Get("digest"), StatusPushed)
	}
	return resp, nil
}

func (o *observer) mark(digest, status string) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if statusRank[status] > statusRank[o.status[h]] {
		o.status[h] = status
	}
}

func (o *observer) statuses() map[v1.Hash]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[v1.Hash]string, len(o.status))
	for k, v := range o.status {
		out[k] = v
	}
	return out
}

// addAuthHeader remembers the credential in an Authorization header value
// ("Basic xxx" / "Bearer xxx"), and for Basic the decoded password.
func (o *observer) addAuthHeader(h string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.secrets[h] = true
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok {
		return
	}
	cred = strings.TrimSpace(cred)
	o.secrets[cred] = true
	if strings.EqualFold(scheme, "basic") {
		if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
			if _, pw, ok := strings.Cut(string(dec), ":"); ok {
				o.secrets[pw] = true
			}
		}
	}
}

func (o *observer) addSecret(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.secrets[s] = true
}

func (o *observer) secretList() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.secrets))
	for s := range o.secrets {
		out = append(out, s)
	}
	return out
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

// MinSecretLen is the shortest secret Redact replaces; shorter strings
// would garble messages without protecting anything meaningful.
const MinSecretLen = 4

// Redact replaces every secret (and its URL-encoded and base64 forms) in s
// with "***". Longer secrets are replaced first.
func Redact(s string, secrets []string) string {
	var forms []string
	for _, sec := range secrets {
		if len(sec) < MinSecretLen {
			continue
		}
		forms = append(forms, sec, url.QueryEscape(sec), base64.StdEncoding.EncodeToString([]byte(sec)))
	}
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	for _, f := range forms {
		if len(f) >= MinSecretLen {
			s = strings.ReplaceAll(s, f, "***")
		}
	}
	return s
}

// RedactedError is an error whose text has had secrets removed. Unwrap
// gives the original error for errors.Is/As (e.g. context.Canceled,
// *transport.Error status codes); print only Error().
type RedactedError struct {
	msg string
	err error
}

func (e *RedactedError) Error() string { return e.msg }
func (e *RedactedError) Unwrap() error { return e.err }

func redactErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return &RedactedError{msg: Redact(err.Error(), secrets), err: err}
}
