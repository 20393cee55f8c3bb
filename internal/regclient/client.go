// Package regclient is the one registry client of a run: it owns the
// go-containerregistry remote options — authentication, transport, user
// agent, retries and timeouts — for reads and writes alike, registers every
// credential it hands out or sends with the run's secrets, bounds what it
// reads, observes what it uploads, and classifies registry answers
// ("not found", "denied").
//
// The transport stack, innermost first: net/http with a connect timeout;
// a watchdog that fails any request making no progress for the configured
// time (waiting for headers, sending the body, reading the body) with a
// *StallError naming the registry and the request (final, not retried,
// once the host has shown no sign of life for twice the timeouts); an
// observer that counts
// uploaded bytes on whatever host an upload is redirected to and records
// per-blob outcomes; an optional debug log; then go-containerregistry's own
// retry, auth and user-agent transports.
package regclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/secrets"
)

// GHCR is the registry the GitHub token is used for.
const GHCR = "ghcr.io"

// Timeouts bound every request. A request fails when it makes no progress
// for the given time; a large upload that keeps moving is never cut.
type Timeouts struct {
	Connect time.Duration // TCP connect and TLS handshake
	Header  time.Duration // from the end of the request to the response headers
	Idle    time.Duration // without a byte sent or received while transferring a body
}

// DefaultTimeouts are generous enough for a slow registry and short enough
// that a dead one fails a CI job in minutes, not hours.
var DefaultTimeouts = Timeouts{Connect: 30 * time.Second, Header: 2 * time.Minute, Idle: 2 * time.Minute}

// DefaultBackoff is the retry schedule for transient failures (network
// resets, stalls, 408, 429, 5xx): 5 tries, 1 s doubling, 10% jitter.
var DefaultBackoff = remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 5}

// RetryStatusCodes are the HTTP statuses retried with the backoff.
var RetryStatusCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// Limits bound what is read from a registry into memory.
const (
	MaxManifestBytes = 4 << 20  // the distribution spec's minimum a registry must accept
	MaxConfigBytes   = 64 << 20 // our configs hold ≤ 256 KiB of path list per layer
)

// Option configures New.
type Option func(*options) error

type options struct {
	keychain  authn.Keychain
	transport http.RoundTripper
	secrets   *secrets.Set
	backoff   remote.Backoff
	timeouts  Timeouts
	jobs      int
	userAgent string
	debug     io.Writer
}

// WithKeychain sets where credentials come from (default authn.DefaultKeychain).
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) error {
		if kc == nil {
			return errors.New("regclient: nil keychain")
		}
		o.keychain = kc
		return nil
	}
}

// WithTransport sets the innermost HTTP transport (tests inject faults
// here); timeouts, observation and retries are still layered on top.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("regclient: nil transport")
		}
		o.transport = rt
		return nil
	}
}

// WithSecrets sets the run's secrets: every credential the keychain hands
// out and every Authorization header sent is added to it, and every error
// and debug line is redacted with it.
func WithSecrets(s *secrets.Set) Option {
	return func(o *options) error {
		if s == nil {
			return errors.New("regclient: nil secrets")
		}
		o.secrets = s
		return nil
	}
}

// WithRetry sets the retry schedule (default DefaultBackoff).
func WithRetry(b remote.Backoff) Option {
	return func(o *options) error {
		if b.Steps < 1 || b.Duration < 0 || b.Factor < 0 || b.Jitter < 0 {
			return fmt.Errorf("regclient: invalid retry backoff %+v", b)
		}
		o.backoff = b
		return nil
	}
}

// WithTimeouts sets the request timeouts (default DefaultTimeouts).
func WithTimeouts(t Timeouts) Option {
	return func(o *options) error {
		if t.Connect <= 0 || t.Header <= 0 || t.Idle <= 0 {
			return fmt.Errorf("regclient: every timeout must be positive: %+v", t)
		}
		o.timeouts = t
		return nil
	}
}

// WithJobs sets how many blobs go up at once in one push (default 4).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("regclient: jobs must be at least 1, got %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithUserAgent sets the User-Agent of every request.
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// WithDebug logs every request and response line (credentials redacted)
// to w.
func WithDebug(w io.Writer) Option {
	return func(o *options) error { o.debug = w; return nil }
}

// Client is a configured registry client. It is safe for concurrent use.
// Its one Pusher and Puller are shared by every remote call, so each
// repository's ping and token exchange happen once per run.
type Client struct {
	o        options
	obs      *observer
	keychain *recordingKeychain
	pusher   *remote.Pusher
	puller   *remote.Puller
}

// New returns a Client; options are validated and defaults filled in.
func New(opts ...Option) (*Client, error) {
	o := options{
		keychain: authn.DefaultKeychain,
		backoff:  DefaultBackoff,
		timeouts: DefaultTimeouts,
		jobs:     4,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.secrets == nil {
		o.secrets = secrets.New()
	}
	base := o.transport
	if base == nil {
		base = newHTTPTransport(o.timeouts.Connect)
	}
	var rt http.RoundTripper = &watchdog{next: base, t: o.timeouts, life: &liveness{}}
	obs := newObserver(rt, o.secrets)
	rt = obs
	if o.debug != nil {
		rt = &debugLog{next: rt, w: o.secrets.Writer(o.debug)}
	}
	c := &Client{o: o, obs: obs}
	c.o.transport = rt
	c.keychain = &recordingKeychain{kc: o.keychain, secrets: o.secrets}
	shared := c.options(context.Background())
	var err error
	if c.pusher, err = remote.NewPusher(shared...); err != nil {
		return nil, err
	}
	if c.puller, err = remote.NewPuller(shared...); err != nil {
		return nil, err
	}
	return c, nil
}

func newHTTPTransport(connect time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   50,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ExpectContinueTimeout: time.Second,
	}
}

// Secrets returns the run's secrets the client redacts with.
func (c *Client) Secrets() *secrets.Set { return c.o.secrets }

// Jobs is the number of concurrent blob uploads in one push.
func (c *Client) Jobs() int { return c.o.jobs }

// Backoff is the client's retry schedule.
func (c *Client) Backoff() remote.Backoff { return c.o.backoff }

// Remote returns the go-containerregistry options every remote call of
// the run uses.
func (c *Client) Remote(ctx context.Context) []remote.Option {
	return append(c.options(ctx), remote.Reuse(c.pusher), remote.Reuse(c.puller))
}

// Pusher is the run's pusher (blob uploads, manifests).
func (c *Client) Pusher() *remote.Pusher { return c.pusher }

func (c *Client) options(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.o.transport),
		remote.WithRetryBackoff(c.o.backoff),
		remote.WithRetryStatusCodes(RetryStatusCodes...),
		remote.WithJobs(c.o.jobs),
	}
	if c.o.userAgent != "" {
		opts = append(opts, remote.WithUserAgent(c.o.userAgent))
	}
	return opts
}

// Err redacts err and adds the registry's HTTP status when its message
// hides it; a refused access becomes an *AccessError saying where
// credentials come from.
func (c *Client) Err(err error) error {
	if ae := accessError(err, &c.keychain.sources); ae != err {
		return c.o.secrets.Error(ae)
	}
	return c.o.secrets.Error(WithStatus(err))
}

// recordingKeychain adds every credential it hands out to the run's
// secrets, and remembers where each registry's came from.
type recordingKeychain struct {
	kc      authn.Keychain
	secrets *secrets.Set
	sources credentialLog
}

func (k *recordingKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	a, source, err := k.resolve(r)
	if err != nil || a == nil {
		return a, err
	}
	k.sources.record(r.RegistryStr(), source)
	if cfg, err := a.Authorization(); err == nil && cfg != nil {
		k.secrets.AddBasic(cfg.Username, cfg.Password)
		k.secrets.Add(cfg.Auth)
		k.secrets.Add(cfg.IdentityToken)
		k.secrets.Add(cfg.RegistryToken)
	}
	return a, nil
}

// resolve asks the keychain and names where the credentials came from
// ("" for anonymous).
func (k *recordingKeychain) resolve(r authn.Resource) (authn.Authenticator, string, error) {
	if sk, ok := k.kc.(sourceKeychain); ok {
		return sk.resolve(r)
	}
	a, err := k.kc.Resolve(r)
	if err != nil || a == nil || a == authn.Anonymous {
		return a, "", err
	}
	return a, "the configured keychain", nil
}

// Keychain returns the Docker keychain (config.json, credential helpers)
// followed by githubToken for ghcr.io as basic auth user "x-access-token"
// (go-containerregistry exchanges it for a bearer token).
func Keychain(githubToken string) authn.Keychain {
	return sourceKeychain{
		{name: "the Docker config", kc: authn.DefaultKeychain},
		{name: "GITHUB_TOKEN", kc: tokenKeychain{token: githubToken}},
	}
}

type tokenKeychain struct{ token string }

func (k tokenKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if k.token == "" || r.RegistryStr() != GHCR {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: "x-access-token", Password: k.token}), nil
}
