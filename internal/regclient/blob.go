package regclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// BlobSize asks the registry (HEAD, with the client's auth, retries and
// timeouts) for the size of blob h in repo. ok is false when the registry
// does not have it.
func (c *Client) BlobSize(ctx context.Context, repo name.Repository, h v1.Hash) (size int64, ok bool, err error) {
	auth, err := authn.Resolve(ctx, c.keychain, repo)
	if err != nil {
		return 0, false, err
	}
	rt := transport.NewRetry(c.o.transport, transport.WithRetryBackoff(c.o.backoff), transport.WithRetryStatusCodes(RetryStatusCodes...),
		transport.WithRetryPredicate(retryable))
	if c.o.userAgent != "" {
		rt = transport.NewUserAgent(rt, c.o.userAgent)
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, rt, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return 0, false, err
	}
	u := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/%s", repo.RepositoryStr(), h)}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.ContentLength, true, nil
	case http.StatusNotFound:
		return 0, false, nil
	}
	return 0, false, transport.CheckError(resp, http.StatusOK)
}

// retryable is the retry predicate of requests made outside
// go-containerregistry's remote package, the same as remote's own: a
// temporary error (a stall that is not final, 5xx and 429 answers), or a
// connection closed or reset. transport.NewRetry's default retries only
// errors that say they are temporary, so a dropped connection (io.EOF)
// would fail at once.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if t, ok := err.(interface{ Temporary() bool }); ok && t.Temporary() {
		return true
	}
	var se *StallError
	if errors.As(err, &se) {
		return !se.Final
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}
