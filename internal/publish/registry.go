package publish

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// GHCR is the registry the GitHub token is used for.
const GHCR = "ghcr.io"

// Keychain returns the Docker keychain (config.json, credential helpers)
// followed by githubToken for ghcr.io as basic auth user "x-access-token"
// (go-containerregistry exchanges it for a bearer token).
func Keychain(githubToken string) authn.Keychain {
	return authn.NewMultiKeychain(authn.DefaultKeychain, tokenKeychain{token: githubToken})
}

type tokenKeychain struct{ token string }

func (k tokenKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if k.token == "" || r.RegistryStr() != GHCR {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: "x-access-token", Password: k.token}), nil
}

// DefaultBackoff is the retry schedule for transient failures (network
// resets, 408, 429, 5xx): 5 tries, 1s doubling, 10% jitter.
var DefaultBackoff = remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 5}

// RetryStatusCodes are the HTTP statuses retried with DefaultBackoff.
var RetryStatusCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// Options configures Registry.
type Options struct {
	Keychain  authn.Keychain    // nil → authn.DefaultKeychain
	Transport http.RoundTripper // nil → remote.DefaultTransport
	Jobs      int               // concurrent blob uploads; ≤0 → 4
	UserAgent string
	// Secrets are redacted from returned error text, in addition to every
	// credential the keychain resolves and every Authorization header sent.
	Secrets []string
	// Retry overrides DefaultBackoff (tests).
	Retry *remote.Backoff
}

// Result describes a push.
type Result struct {
	Digest      v1.Hash
	BytesPushed int64              // blob bytes (layers and config) actually sent
	Status      map[v1.Hash]string // every layer and the config: pushed|exists|mounted
	Changed     bool               // the tag pointed elsewhere (or nowhere) before
}

// Registry pushes img to ref, then points every extra tag (in ref's
// repository) at it. go-containerregistry checks each blob with HEAD,
// mounts remote layers from their source repository, uploads the rest
// with retries, and writes the manifest only after all blobs are present.
// Blob statuses and byte counts come from observing those requests.
func Registry(ctx context.Context, img v1.Image, ref name.Reference, tags []string, o Options) (*Result, error) {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	base := o.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	obs := newObserver(base, ref.Context().RepositoryStr())
	for _, s := range o.Secrets {
		obs.addSecret(s)
	}
	addKeychainSecrets(obs, kc, ref.Context())
	fail := func(format string, args ...any) (*Result, error) {
		return nil, redactErr(WithStatus(fmt.Errorf(format, args...)), obs.secretList())
	}

	digest, err := img.Digest()
	if err != nil {
		return fail("push %s: image digest: %w", ref, err)
	}
	want, err := blobDigests(img)
	if err != nil {
		return fail("push %s: %w", ref, err)
	}
	tagRefs := make([]name.Tag, 0, len(tags))
	for _, t := range tags {
		tr, err := name.NewTag(ref.Context().String()+":"+t, name.StrictValidation)
		if err != nil {
			return fail("push %s: bad extra tag %q: %w", ref, t, err)
		}
		tagRefs = append(tagRefs, tr)
	}

	backoff := DefaultBackoff
	if o.Retry != nil {
		backoff = *o.Retry
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithJobs(jobs),
		remote.WithTransport(obs),
		remote.WithRetryBackoff(backoff),
		remote.WithRetryStatusCodes(RetryStatusCodes...),
	}
	if o.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(o.UserAgent))
	}

	changed := true
	if prev, err := remote.Head(ref, opts...); err == nil {
		changed = prev.Digest != digest
	} else if !isNotFoundOrForbidden(err) {
		return fail("push %s: check current manifest: %w", ref, err)
	}

	if err := writeRetrying(ctx, ref, img, backoff, opts); err != nil {
		return fail("push %s: %w", ref, err)
	}
	for _, tr := range tagRefs {
		if err := remote.Tag(tr, img, opts...); err != nil {
			return fail("push %s: tag %s: %w", ref, tr.TagStr(), err)
		}
	}

	seen := obs.statuses()
	status := make(map[v1.Hash]string, len(want))
	for _, h := range want {
		// remote.Write succeeded, so a blob it neither uploaded nor
		// mounted was already there (possibly not even HEAD-checked,
		// when the tag already pointed at this exact manifest).
		status[h] = StatusExists
		if s, ok := seen[h]; ok {
			status[h] = s
		}
	}
	return &Result{Digest: digest, BytesPushed: obs.sent.Load(), Status: status, Changed: changed}, nil
}

// blobDigests lists the digests of img's layers and config.
func blobDigests(img v1.Image) ([]v1.Hash, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	out := make([]v1.Hash, 0, len(m.Layers)+1)
	for _, d := range m.Layers {
		out = append(out, d.Digest)
	}
	return append(out, m.Config.Digest), nil
}

// addKeychainSecrets registers what the keychain would send for repo so
// it can be redacted even if the registry echoes it in a different form.
func addKeychainSecrets(obs *observer, kc authn.Keychain, repo name.Repository) {
	a, err := kc.Resolve(repo)
	if err != nil || a == nil {
		return
	}
	cfg, err := a.Authorization()
	if err != nil || cfg == nil {
		return
	}
	for _, s := range []string{cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		if s != "" {
			obs.addSecret(s)
		}
	}
	if cfg.Username != "" && cfg.Password != "" {
		obs.addSecret(base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password)))
	}
}

// writeAttempts bounds whole-push retries on top of go-containerregistry's
// own per-request (and per-blob-upload) budget.
const writeAttempts = 3

// writeRetrying runs remote.Write, and again (at most writeAttempts times)
// when it failed transiently after exhausting the library's budget: a blob
// upload is three requests retried together only 5 times, which 10% faulty
// requests exhaust about once in 700 uploads. A retry is cheap and safe:
// blobs already uploaded are found by HEAD, and the manifest is still
// written only after every blob is present.
func writeRetrying(ctx context.Context, ref name.Reference, img v1.Image, b remote.Backoff, opts []remote.Option) error {
	for attempt := 1; ; attempt++ {
		err := remote.Write(ref, img, opts...)
		if err == nil || attempt == writeAttempts || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * b.Duration):
		}
	}
}

// transient reports whether err is a network failure or a registry answer
// worth retrying (5xx, 429, 408).
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		// A manifest naming a blob the registry does not see yet: GHCR
		// answers this for a while after the blob's upload. Another whole
		// attempt HEAD-checks every blob again (uploading any that really
		// is missing) before the manifest.
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestBlobUnknownErrorCode || d.Code == transport.BlobUnknownErrorCode {
				return true
			}
		}
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
// as its code and message only), so a failed push always names the answer.
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

func isNotFoundOrForbidden(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound || terr.StatusCode == http.StatusForbidden {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.NameUnknownErrorCode || d.Code == transport.ManifestUnknownErrorCode {
			return true
		}
	}
	return false
}
