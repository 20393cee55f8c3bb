package substituter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// maxSmallFile bounds nix-cache-info and narinfo downloads (a narinfo with
// thousands of references is well below this).
const maxSmallFile = 8 << 20

// fetchSmall downloads a small file of the cache (narinfo, nix-cache-info)
// into memory. found is false for a file the cache does not have (HTTP 404
// or 403, as Nix treats them; a missing file for file:// caches).
func (c *Client) fetchSmall(ctx context.Context, ch *cache, rel string) (data []byte, found bool, err error) {
	loc, err := ch.resolve(rel)
	if err != nil {
		return nil, false, &CacheError{Cache: ch.display, Err: err}
	}
	if ch.isFile() {
		data, err := os.ReadFile(loc)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, &RequestError{Cache: ch.display, Method: "READ", URL: loc, Attempts: 1, Err: err}
		}
		return data, true, nil
	}
	resp, attempts, err := c.get(ctx, ch, loc, nil)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden {
		return nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, c.requestError(ch, loc, resp.StatusCode, attempts, nil)
	}
	body, err := decodeContentEncoding(resp.Header.Get("Content-Encoding"), resp.Body, c.o.xzCommand)
	if err != nil {
		return nil, false, c.requestError(ch, loc, 0, attempts, err)
	}
	defer body.Close()
	data, err = io.ReadAll(io.LimitReader(body, maxSmallFile+1))
	if err == nil && len(data) > maxSmallFile {
		err = fmt.Errorf("larger than %d bytes", maxSmallFile)
	}
	if err != nil {
		return nil, false, c.requestError(ch, loc, 0, attempts, err)
	}
	return data, true, nil
}

func (c *Client) requestError(ch *cache, loc string, status, attempts int, err error) error {
	var te *TimeoutError
	if errors.As(err, &te) {
		return te
	}
	return &RequestError{Cache: ch.display, Method: "GET", URL: redactURLText(loc), Status: status,
		Attempts: attempts, Err: c.redact.Error(err)}
}

// get sends GET requests for loc until one succeeds or fails permanently:
// transient failures (transport errors, 5xx, 429, 408) are retried with
// backoff. The response body enforces the idle timeout and must be closed.
// Non-retryable statuses are returned as responses for the caller to judge.
// hdr, when not nil, is added to every request (Range, If-Range).
func (c *Client) get(ctx context.Context, ch *cache, loc string, hdr http.Header) (*http.Response, int, error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.attempt(ctx, ch, loc, hdr)
		wait, retry := c.retryable(ctx, resp, err, attempt)
		if !retry || attempt > c.o.retries {
			if err != nil {
				return nil, attempt, c.requestError(ch, loc, 0, attempt, err)
			}
			if retry { // out of attempts on a retryable status
				resp.Body.Close()
				return nil, attempt, c.requestError(ch, loc, resp.StatusCode, attempt, nil)
			}
			return resp, attempt, nil
		}
		what := urlErrorPrefix.ReplaceAllString(c.redact.String(fmt.Sprint(err)), "")
		if resp != nil {
			what = "HTTP " + strconv.Itoa(resp.StatusCode)
			drainAndClose(resp.Body)
		}
		c.o.logf("substituter: GET %s (cache %s): %s; retry %d/%d in %s",
			redactURLText(loc), ch.display, what, attempt, c.o.retries, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil, attempt, ctx.Err()
		case <-c.o.sleep(wait):
		}
	}
}

// retryable classifies an attempt's outcome and returns the backoff.
func (c *Client) retryable(ctx context.Context, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	if err != nil {
		return c.backoff(attempt, 0), transientError(err)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
		return c.backoff(attempt, retryAfter(resp.Header.Get("Retry-After"))), true
	}
	return 0, false
}

// backoff returns the wait after the given attempt (1-based): the
// exponential step with jitter, capped at the maximum, or floor (a
// Retry-After) when that is longer, capped too.
func (c *Client) backoff(attempt int, floor time.Duration) time.Duration {
	d := c.o.backoff << min(attempt-1, 20)
	if d > c.o.maxBackoff || d <= 0 {
		d = c.o.maxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	if floor > d {
		d = min(floor, c.o.maxBackoff)
	}
	return d
}

func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// transientError reports whether a transport error may go away on retry:
// everything but certificate and name-not-found errors.
func transientError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return false
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return false
	}
	return true
}

// attempt sends one GET. The response-header timeout cancels the request
// with a *TimeoutError cause; the returned body resets the idle timer on
// every read and cancels the request when closed.
func (c *Client) attempt(ctx context.Context, ch *cache, loc string, hdr http.Header) (*http.Response, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, loc, nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c.authorize(req, ch)
	headerTimeout := &TimeoutError{Cache: ch.display, URL: redactURLText(loc), Phase: "response headers", After: c.o.headerTimeout}
	timer := time.AfterFunc(c.o.headerTimeout, func() { cancel(headerTimeout) })
	resp, err := c.http.Do(req)
	if !timer.Stop() && err == nil {
		resp.Body.Close()
		err = headerTimeout
	}
	if err != nil {
		cancel(nil)
		if cause := context.Cause(rctx); errors.Is(cause, headerTimeout) {
			return nil, headerTimeout
		}
		return nil, err
	}
	bodyTimeout := &TimeoutError{Cache: ch.display, URL: headerTimeout.URL, Phase: "body bytes", After: c.o.idleTimeout}
	resp.Body = newIdleBody(rctx, resp.Body, c.o.idleTimeout, cancel, bodyTimeout)
	return resp, nil
}

// authorize adds basic auth from the cache URL's userinfo (for its own
// host) or from the netrc file. Credentials never go into the URL.
func (c *Client) authorize(req *http.Request, ch *cache) {
	host := req.URL.Hostname()
	if ch.user != nil && host == ch.base.Hostname() {
		pw, _ := ch.user.Password()
		req.SetBasicAuth(ch.user.Username(), pw)
		return
	}
	if login, pw, ok := c.netrc.lookup(host); ok {
		req.SetBasicAuth(login, pw)
	}
}

// idleBody fails reads with a *TimeoutError when no byte arrived for the
// idle timeout (by cancelling the request), and releases the request's
// context on Close.
type idleBody struct {
	ctx     context.Context
	rc      io.ReadCloser
	timer   *time.Timer
	idle    time.Duration
	cancel  context.CancelCauseFunc
	timeout *TimeoutError
	closed  atomic.Bool
}

func newIdleBody(ctx context.Context, rc io.ReadCloser, idle time.Duration, cancel context.CancelCauseFunc, te *TimeoutError) *idleBody {
	b := &idleBody{ctx: ctx, rc: rc, idle: idle, cancel: cancel, timeout: te}
	b.timer = time.AfterFunc(idle, func() { cancel(te) })
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		if errors.Is(context.Cause(b.ctx), b.timeout) {
			err = b.timeout
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

func drainAndClose(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 64<<10)
	rc.Close()
}
