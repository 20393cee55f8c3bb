package regclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// IsNotFound reports whether err is a registry "not found" answer (HTTP
// 404, NAME_UNKNOWN or MANIFEST_UNKNOWN).
func IsNotFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.NameUnknownErrorCode || d.Code == transport.ManifestUnknownErrorCode {
			return true
		}
	}
	return false
}

// IsDenied reports whether err is a registry answer refusing access
// (HTTP 401 or 403, UNAUTHORIZED or DENIED).
func IsDenied(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.UnauthorizedErrorCode || d.Code == transport.DeniedErrorCode {
			return true
		}
	}
	return false
}

// IsBlobUnknown reports whether err is a registry saying a blob it should
// have is not there (BLOB_UNKNOWN, MANIFEST_BLOB_UNKNOWN): GHCR answers so
// for a while after the blob's upload.
func IsBlobUnknown(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	for _, d := range terr.Errors {
		if d.Code == transport.ManifestBlobUnknownErrorCode || d.Code == transport.BlobUnknownErrorCode {
			return true
		}
	}
	return false
}

// Transient reports whether err is a network failure, a stall or a
// registry answer worth another attempt (5xx, 429, 408, blob unknown).
// Cancellation is never transient.
func Transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *StallError
	if errors.As(err, &se) || IsBlobUnknown(err) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, c := range RetryStatusCodes {
			if terr.StatusCode == c {
				return true
			}
		}
		return terr.Temporary()
	}
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// WithStatus adds the HTTP status of a registry error to its text when the
// registry's own message does not carry it (a JSON error body is printed
// as its code and message only), so a failure always names the answer.
func WithStatus(err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode == 0 {
		return err
	}
	if strings.Contains(err.Error(), strconv.Itoa(terr.StatusCode)+" ") {
		return err
	}
	return fmt.Errorf("%w (registry answered HTTP %d %s)", err, terr.StatusCode, http.StatusText(terr.StatusCode))
}

// Retry runs f until it succeeds, fails with an error that is not
// Transient, ctx ends, or attempts are used up, sleeping attempt×pause
// between attempts. It is the whole-operation retry on top of
// go-containerregistry's per-request budget.
func Retry(ctx context.Context, attempts int, pause time.Duration, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt >= attempts || !Transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * pause):
		}
	}
}
