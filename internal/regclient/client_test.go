package regclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/secrets"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
)

var fast = Timeouts{Connect: time.Second, Header: 300 * time.Millisecond, Idle: 300 * time.Millisecond}

func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithTimeouts(fast), WithRetry(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1})}, opts...)
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOptionsValidated(t *testing.T) {
	for name, o := range map[string]Option{
		"nil keychain":  WithKeychain(nil),
		"nil transport": WithTransport(nil),
		"nil secrets":   WithSecrets(nil),
		"zero timeout":  WithTimeouts(Timeouts{Connect: time.Second}),
		"no steps":      WithRetry(remote.Backoff{}),
		"jobs":          WithJobs(0),
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// stallServer answers /v2/ and otherwise behaves as mode says.
func stallServer(t *testing.T, mode string) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		switch mode {
		case "headers":
		case "body":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"schemaVersion":`))
			w.(http.Flusher).Flush()
		case "upload":
			io.CopyN(io.Discard, r.Body, 10)
		}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestStallsFailNamingTheRequest(t *testing.T) {
	for mode, phase := range map[string]Phase{"headers": PhaseHeaders, "body": PhaseBody} {
		host := stallServer(t, mode)
		c := newClient(t)
		ref, _ := name.ParseReference(host + "/repo:tag")
		start := time.Now()
		_, err := remote.Get(ref, c.Remote(context.Background())...)
		var se *StallError
		if !errors.As(err, &se) {
			t.Fatalf("%s: err = %v, want a StallError", mode, err)
		}
		if se.Phase != phase || se.Host != host || !strings.Contains(err.Error(), "/v2/repo/manifests/tag") {
			t.Errorf("%s: %v (phase %q)", mode, err, se.Phase)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: gave up after %s", mode, d)
		}
	}
}

func TestStalledUploadFails(t *testing.T) {
	host := stallServer(t, "upload")
	c := newClient(t)
	// The server reads 10 bytes and stops: the socket buffers fill and the
	// upload stops moving.
	body := io.LimitReader(zeros{}, 1<<30)
	req, _ := http.NewRequest(http.MethodPatch, "http://"+host+"/v2/r/blobs/uploads/1", body)
	_, err := (&http.Client{Transport: c.o.transport}).Do(req)
	var se *StallError
	if !errors.As(err, &se) || se.Phase != PhaseSending {
		t.Fatalf("err = %v, want a stall while sending", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A slow but moving body is never cut: only a lack of progress is.
func TestSlowBodyIsNotCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 8 {
			w.Write(bytes.Repeat([]byte("x"), 10))
			w.(http.Flusher).Flush()
			time.Sleep(fast.Idle / 2)
		}
	}))
	defer srv.Close()
	c := newClient(t)
	resp, err := (&http.Client{Transport: c.o.transport}).Get(srv.URL + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 80 {
		t.Fatalf("read %d bytes, err %v; the body took %s, longer than the idle limit, but kept moving", len(b), err, 4*fast.Idle)
	}
}

func TestManifestSizeBound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write(bytes.Repeat([]byte(" "), MaxManifestBytes+10))
	}))
	defer srv.Close()
	c := newClient(t)
	ref, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/r:t")
	_, err := remote.Get(ref, c.Remote(context.Background())...)
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("err = %v, want TooLargeError", err)
	}
}

// Every Authorization header sent is added to the run's secrets, so a
// registry echoing it back cannot get it into an error.
func TestAuthHeadersBecomeSecrets(t *testing.T) {
	const user, pass = "robot", "hunter2-very-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"errors":[{"code":"DENIED","message":"you sent %s"}]}`, auth)
	}))
	defer srv.Close()
	set := secrets.New()
	kc := staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})}
	c := newClient(t, WithSecrets(set), WithKeychain(kc))
	ref, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/r:t")
	_, err := remote.Get(ref, c.Remote(context.Background())...)
	if err == nil || !IsDenied(err) {
		t.Fatalf("err = %v, want denied", err)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if !strings.Contains(err.Error(), basic) {
		t.Fatalf("the test registry did not echo the credential: %v", err)
	}
	msg := c.Err(err).Error()
	if strings.Contains(msg, basic) || strings.Contains(msg, pass) || !strings.Contains(msg, "DENIED") {
		t.Errorf("Err left a credential or lost the answer: %s", msg)
	}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

func TestKeychainGHCRToken(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no config.json: DefaultKeychain is anonymous
	kc := Keychain("ghp_secret")
	ghcr, _ := name.NewRegistry("ghcr.io")
	a, err := kc.Resolve(ghcr)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Username != "x-access-token" || cfg.Password != "ghp_secret" {
		t.Fatalf("ghcr.io auth = %+v", cfg)
	}
	other, _ := name.NewRegistry("quay.io")
	if a, _ := kc.Resolve(other); a != authn.Anonymous {
		t.Fatalf("token leaked to quay.io: %v", a)
	}
	if a, _ := Keychain("").Resolve(ghcr); a != authn.Anonymous {
		t.Fatalf("empty token should be anonymous, got %v", a)
	}
}

// A registry that never answers costs about two timeouts: the first stall
// is retried, the next (the host silent for twice the timeout) is final,
// whatever retries are left; not one timeout per retry.
func TestSilentRegistryGivesUpAfterTwoTimeouts(t *testing.T) {
	// 1 s, not less: go-containerregistry's ping runs HTTPS and HTTP
	// attempts side by side, each retried on its own, and on a loaded
	// machine their timers drift by hundreds of milliseconds.
	const timeout = time.Second
	host := faultproxy.Silent(t)
	c := newClient(t, WithTimeouts(Timeouts{Connect: timeout, Header: timeout, Idle: timeout}),
		WithRetry(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 5}))
	ref, _ := name.ParseReference(host + "/repo:tag")
	start := time.Now()
	_, err := remote.Get(ref, c.Remote(context.Background())...)
	d := time.Since(start)
	var se *StallError
	if !errors.As(err, &se) || !se.Final || se.Host != host {
		t.Fatalf("err = %v, want a final StallError for %s", err, host)
	}
	if !IsNetwork(err) || Transient(err) {
		t.Errorf("a final stall: IsNetwork %v, Transient %v", IsNetwork(err), Transient(err))
	}
	// 5 tries would take 5×1 s + 1.5 s of backoff = 6.5 s.
	if d < 2*timeout || d > 4*timeout {
		t.Errorf("gave up after %s, want about 2×%s (the first stall retried once), at most 4×: %v", d, timeout, err)
	}
}

// A stall on a registry that answers otherwise is still retried.
func TestStallRetriedWhenTheRegistryAnswers(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		if n++; n == 1 {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}`))
	}))
	defer srv.Close()
	c := newClient(t, WithRetry(remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 3}))
	ref, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/repo:tag")
	if _, err := remote.Get(ref, c.Remote(context.Background())...); err != nil {
		t.Fatalf("one stall, then an answer: %v", err)
	}
}

func TestIsNetwork(t *testing.T) {
	c := newClient(t)
	ref, _ := name.ParseReference("nonexistent.invalid/repo:tag")
	_, err := remote.Get(ref, c.Remote(context.Background())...)
	if !IsNetwork(err) {
		t.Errorf("DNS failure: IsNetwork false: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ref, _ = name.ParseReference(addr + "/repo:tag")
	_, err = remote.Get(ref, c.Remote(context.Background())...)
	if !IsNetwork(err) {
		t.Errorf("connection refused: IsNetwork false: %v", err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	ref, _ = name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/repo:tag")
	_, err = remote.Get(ref, c.Remote(context.Background())...)
	if err == nil || IsNetwork(err) {
		t.Errorf("a 404 answer: IsNetwork true: %v", err)
	}
}

// BlobSize retries a dropped connection like every other request (the
// library's bare retry transport would not: io.EOF is not "temporary").
func TestBlobSizeRetriesDroppedConnections(t *testing.T) {
	var heads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && heads.Add(1) <= 2 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", "1234")
		}
	}))
	defer srv.Close()
	c := newClient(t, WithRetry(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 5}))
	repo, _ := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/r")
	size, ok, err := c.BlobSize(context.Background(), repo, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)})
	if err != nil || !ok || size != 1234 {
		t.Fatalf("BlobSize after two dropped connections: %d %v %v", size, ok, err)
	}
}

// A TLS handshake that times out (the transport's own timeout, before the
// watchdog's header timer) is a stall like any other: it counts against
// the host, so a silent registry is not retried for the whole budget.
func TestHandshakeTimeoutIsAStall(t *testing.T) {
	host := faultproxy.Silent(t)
	c := newClient(t, WithTimeouts(Timeouts{Connect: 200 * time.Millisecond, Header: 5 * time.Second, Idle: 5 * time.Second}))
	req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/v2/", nil)
	_, err := c.o.transport.RoundTrip(req)
	var se *StallError
	if !errors.As(err, &se) || se.Phase != PhaseConnecting || se.Host != host {
		t.Fatalf("err = %v, want a StallError while connecting to %s", err, host)
	}
}
