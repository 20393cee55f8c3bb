package regclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	if errors.As(err, &se) {
		return !se.Final
	}
	if IsBlobUnknown(err) {
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

// UnreachableError is a registry that could not be reached or did not
// answer: nothing listening, a name that does not resolve, a TLS handshake
// or certificate that fails, a connection dropped every time, a stall.
type UnreachableError struct {
	Registry string // "ghcr.io"
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach registry %s: %v", e.Registry, e.Err)
}

// Unwrap returns the network error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// IsNetwork reports whether err is a failure to reach or hear from a
// registry (as opposed to an answer from it): connection refused or reset,
// DNS, TLS and certificate failures, timeouts and stalls. Cancellation is
// not.
func IsNetwork(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return false // the registry answered
	}
	var (
		se    *StallError
		dns   *net.DNSError
		op    *net.OpError
		rec   tls.RecordHeaderError
		alert tls.AlertError
		cv    *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		hn    x509.HostnameError
		ci    x509.CertificateInvalidError
		nerr  net.Error
	)
	switch {
	case errors.As(err, &se), errors.As(err, &dns), errors.As(err, &op),
		errors.As(err, &rec), errors.As(err, &alert), errors.As(err, &cv),
		errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
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
// go-containerregistry's per-request budget. A stall is not retried here:
// the stalled request has used that budget already, and each further
// attempt would cost it again.
func Retry(ctx context.Context, attempts int, pause time.Duration, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		var se *StallError
		if err == nil || attempt >= attempts || !Transient(err) || errors.As(err, &se) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * pause):
		}
	}
}
