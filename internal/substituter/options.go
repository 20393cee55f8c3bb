package substituter

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/org/nix-layer-action/internal/secrets"
)

// Defaults for the options of New.
const (
	DefaultConcurrency           = 16
	DefaultConnectTimeout        = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout           = 60 * time.Second
	DefaultRetries               = 3
	DefaultRetryBackoff          = 250 * time.Millisecond
	DefaultMaxRetryBackoff       = 5 * time.Second
	DefaultStoreDir              = "/nix/store"
	maxConcurrency               = 256
)

// Option configures a Client (see New).
type Option func(*options) error

// options holds the validated settings of a Client.
type options struct {
	transport      http.RoundTripper
	concurrency    int
	connectTimeout time.Duration
	headerTimeout  time.Duration
	idleTimeout    time.Duration
	retries        int
	backoff        time.Duration
	maxBackoff     time.Duration
	logf           func(format string, args ...any)
	storeDir       string
	xzCommand      string
	sleep          func(time.Duration) <-chan time.Time
	secrets        *secrets.Set // the run's; nil until New makes one
}

func defaultOptions() options {
	return options{
		concurrency:    DefaultConcurrency,
		connectTimeout: DefaultConnectTimeout,
		headerTimeout:  DefaultResponseHeaderTimeout,
		idleTimeout:    DefaultIdleTimeout,
		retries:        DefaultRetries,
		backoff:        DefaultRetryBackoff,
		maxBackoff:     DefaultMaxRetryBackoff,
		logf:           func(string, ...any) {},
		storeDir:       DefaultStoreDir,
		sleep:          time.After,
	}
}

// WithTransport sets the HTTP transport. The response-header and idle
// timeouts still apply (they are enforced per request, not by the
// transport); WithConnectTimeout then has no effect. Default: a clone of
// http.DefaultTransport without proxy settings from the environment,
// dialling with the connect timeout.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("WithTransport: nil transport")
		}
		o.transport = rt
		return nil
	}
}

// WithConcurrency bounds the narinfo requests in flight at once (and so the
// goroutines PathInfos starts), 1..256. Default 16.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > maxConcurrency {
			return fmt.Errorf("WithConcurrency(%d): want 1..%d", n, maxConcurrency)
		}
		o.concurrency = n
		return nil
	}
}

// WithConnectTimeout bounds TCP connection set-up (and the TLS handshake)
// of the default transport. Default 10s.
func WithConnectTimeout(d time.Duration) Option {
	return positiveDuration("WithConnectTimeout", d, func(o *options) { o.connectTimeout = d })
}

// WithResponseHeaderTimeout bounds the wait for a response's headers after
// the request was sent. Default 30s.
func WithResponseHeaderTimeout(d time.Duration) Option {
	return positiveDuration("WithResponseHeaderTimeout", d, func(o *options) { o.headerTimeout = d })
}

// WithIdleTimeout bounds the time a response body may go without
// delivering a byte: a stalled cache fails with a *TimeoutError instead of
// hanging. Default 60s.
func WithIdleTimeout(d time.Duration) Option {
	return positiveDuration("WithIdleTimeout", d, func(o *options) { o.idleTimeout = d })
}

// WithRetries sets how often a request is retried after a transient
// failure (HTTP 5xx or 429, connection errors, timeouts), 0..10, with
// exponential backoff from initial up to max (Retry-After is honoured up to
// max). A NAR body cut short (connection reset or closed early) or
// stalled is resumed up to n times: with a Range request when the cache
// offers byte ranges, else by fetching the whole file again and skipping
// what was read; the joined stream is still hash-checked. Default 3
// retries, 250ms, 5s.
func WithRetries(n int, initial, max time.Duration) Option {
	return func(o *options) error {
		if n < 0 || n > 10 {
			return fmt.Errorf("WithRetries(%d): want 0..10", n)
		}
		if initial <= 0 || max < initial {
			return fmt.Errorf("WithRetries: want 0 < initial (%s) <= max (%s)", initial, max)
		}
		o.retries, o.backoff, o.maxBackoff = n, initial, max
		return nil
	}
}

// WithLogger receives one line per notable event (a skipped substituter, a
// retry, a rejected signature when another cache is tried). Text is
// redacted of credentials. It may be called from several goroutines at
// once. Default: discard.
func WithLogger(logf func(format string, args ...any)) Option {
	return func(o *options) error {
		if logf == nil {
			return errors.New("WithLogger: nil func")
		}
		o.logf = logf
		return nil
	}
}

// WithSecrets makes the client register the credentials it reads (netrc
// logins and passwords, user:password in substituter URLs) in set, the
// run's secrets, and redact its errors and log lines through it. Default:
// a set of its own.
func WithSecrets(set *secrets.Set) Option {
	return func(o *options) error {
		if set == nil {
			return errors.New("WithSecrets: nil set")
		}
		o.secrets = set
		return nil
	}
}

// WithStoreDir sets the store directory paths must live in and caches'
// nix-cache-info StoreDir must match. Default /nix/store.
func WithStoreDir(dir string) Option {
	return func(o *options) error {
		if len(dir) < 2 || dir[0] != '/' || dir[len(dir)-1] == '/' {
			return fmt.Errorf("WithStoreDir(%q): want an absolute path without a trailing slash", dir)
		}
		o.storeDir = dir
		return nil
	}
}

// WithXZCommand makes OpenNAR decompress xz NARs by piping them through
// the given xz binary ("xz -d"), two to three and a half times faster than
// the built-in pure-Go decoder (github.com/ulikunitz/xz): measured 48 vs
// 14 MB/s on a 64 MiB NAR of shared libraries, 47 vs 24 MB/s in
// BenchmarkDecompressXZ, on 2 cores including hashing. Callers that ship
// xz should pass its absolute path; the default ("") uses the pure-Go
// decoder, which needs nothing installed.
func WithXZCommand(path string) Option {
	return func(o *options) error {
		if path != "" && path[0] != '/' {
			return fmt.Errorf("WithXZCommand(%q): want an absolute path", path)
		}
		o.xzCommand = path
		return nil
	}
}

func positiveDuration(name string, d time.Duration, set func(*options)) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%s(%s): want a positive duration", name, d)
		}
		set(o)
		return nil
	}
}

// defaultTransport is http.DefaultTransport's settings without proxy
// lookup from the environment (this package reads no environment), with
// the connect timeout.
func defaultTransport(o *options) http.RoundTripper {
	d := &net.Dialer{Timeout: o.connectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   o.concurrency + 4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.connectTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
