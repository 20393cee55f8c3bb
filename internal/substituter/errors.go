package substituter

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// MissingError reports store paths that no configured substituter has a
// narinfo for. The caller is expected to build or substitute them with Nix.
type MissingError struct {
	Paths []string // sorted
}

// Error describes the failure.
func (e *MissingError) Error() string {
	const show = 5
	if len(e.Paths) <= show {
		return fmt.Sprintf("substituter: %d path(s) not in any binary cache: %s", len(e.Paths), strings.Join(e.Paths, " "))
	}
	return fmt.Sprintf("substituter: %d path(s) not in any binary cache: %s … and %d more",
		len(e.Paths), strings.Join(e.Paths[:show], " "), len(e.Paths)-show)
}

// SignatureError reports a narinfo that require-sigs rejects: unsigned, or
// with no valid signature by a trusted public key. When several caches
// hold the path, it is returned only if none of them has an acceptable one.
type SignatureError struct {
	Path   string // the store path
	Cache  string // the cache URL (credentials removed)
	Reason string
}

// Error describes the failure.
func (e *SignatureError) Error() string {
	return fmt.Sprintf("substituter: narinfo of %s from %s: %s", e.Path, e.Cache, e.Reason)
}

// NarinfoError reports a narinfo that cannot be parsed or is inconsistent
// (wrong StorePath, bad hash, invalid references).
type NarinfoError struct {
	Path  string
	Cache string
	Err   error
}

// Error describes the failure.
func (e *NarinfoError) Error() string {
	return fmt.Sprintf("substituter: bad narinfo for %s from %s: %v", e.Path, e.Cache, e.Err)
}

// Unwrap returns the underlying error.
func (e *NarinfoError) Unwrap() error { return e.Err }

// CacheError reports a substituter that cannot be used: a bad URL, an
// unreadable or mismatching nix-cache-info.
type CacheError struct {
	Cache string
	Err   error
}

// Error describes the failure.
func (e *CacheError) Error() string {
	return fmt.Sprintf("substituter: binary cache %s: %v", e.Cache, e.Err)
}

// Unwrap returns the underlying error.
func (e *CacheError) Unwrap() error { return e.Err }

// RequestError reports a failed request to a cache after retries: a
// transport error, or an unexpected HTTP status.
type RequestError struct {
	Cache    string // cache URL
	Method   string // "GET", or "READ" for file:// caches
	URL      string // request URL (credentials removed)
	Status   int    // HTTP status, 0 when none was received
	Attempts int
	Err      error
}

// Error describes the failure.
func (e *RequestError) Error() string {
	msg := fmt.Sprintf("substituter: %s %s (cache %s)", e.Method, e.URL, e.Cache)
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Err != nil {
		// A *url.Error starts by repeating the method and URL said above
		// (`Get "http://…": `); the text is kept as redacted.
		inner := e.Err.Error()
		var ue *url.Error
		if errors.As(e.Err, &ue) {
			inner = urlErrorPrefix.ReplaceAllString(inner, "")
		}
		msg += ": " + inner
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *RequestError) Unwrap() error { return e.Err }

// urlErrorPrefix is how a *url.Error's text starts.
var urlErrorPrefix = regexp.MustCompile(`^[A-Z][a-z]+ "[^"]*": `)

// TimeoutError reports a cache that stalled: no response headers within
// the response-header timeout, or no body bytes within the idle timeout.
type TimeoutError struct {
	Cache string
	URL   string
	Phase string // "response headers" or "body"
	After time.Duration
}

// Error describes the failure.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("substituter: GET %s (cache %s): stalled: no %s for %s", e.URL, e.Cache, e.Phase, e.After)
}

// Timeout reports true, for net.Error-style checks.
func (e *TimeoutError) Timeout() bool { return true }

// HashMismatchError is returned by the final Read of an OpenNAR stream
// whose decompressed content does not match the narinfo's NarHash and
// NarSize. Got and GotSize describe the bytes read so far (the whole
// stream, or a prefix already longer than NarSize).
type HashMismatchError struct {
	Path     string
	Cache    string
	Want     string // "sha256:<nix32>"
	Got      string
	WantSize int64
	GotSize  int64
}

// Error describes the failure.
func (e *HashMismatchError) Error() string {
	if e.GotSize != e.WantSize {
		return fmt.Sprintf("substituter: NAR of %s from %s: size mismatch: narinfo says %d bytes, got %d (hash %s)",
			e.Path, e.Cache, e.WantSize, e.GotSize, e.Got)
	}
	return fmt.Sprintf("substituter: NAR of %s from %s: hash mismatch: narinfo says %s, got %s",
		e.Path, e.Cache, e.Want, e.Got)
}

// NARError reports a NAR stream that failed while downloading or
// decompressing (truncated or corrupt compressed data, connection loss).
type NARError struct {
	Path  string
	Cache string
	URL   string
	Err   error
}

// Error describes the failure.
func (e *NARError) Error() string {
	return fmt.Sprintf("substituter: NAR of %s from %s (%s): %v", e.Path, e.Cache, e.URL, e.Err)
}

// Unwrap returns the underlying error.
func (e *NARError) Unwrap() error { return e.Err }

// UnsupportedCompressionError reports a narinfo Compression this package
// cannot decompress.
type UnsupportedCompressionError struct {
	Path        string
	Cache       string
	Compression string
}

// Error describes the failure.
func (e *UnsupportedCompressionError) Error() string {
	return fmt.Sprintf("substituter: NAR of %s from %s: unsupported compression %q", e.Path, e.Cache, e.Compression)
}

// InvalidPathError reports an argument that is not a store path in the
// configured store directory.
type InvalidPathError struct {
	Path   string
	Reason string
}

// Error describes the failure.
func (e *InvalidPathError) Error() string {
	return fmt.Sprintf("substituter: %q is not a store path: %s", e.Path, e.Reason)
}
