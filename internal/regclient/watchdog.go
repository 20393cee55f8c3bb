package regclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Phase is the part of a request that stalled.
type Phase string

// Request phases the watchdog tells apart.
const (
	PhaseConnecting Phase = "connecting"
	PhaseSending    Phase = "sending the request body"
	PhaseHeaders    Phase = "waiting for the response headers"
	PhaseBody       Phase = "reading the response body"
)

// StallError reports a request that made no progress for too long. It is
// temporary (go-containerregistry retries it within the run's budget)
// unless it is Final.
type StallError struct {
	Host, Method, Path string
	Phase              Phase
	After              time.Duration
	// Silent is how long the host had shown no sign of life (no answer,
	// no byte moved on any request) when the request stalled.
	Silent time.Duration
	// Final is set when the host had been silent for twice the timeouts:
	// it is then taken for gone, and the stall is not retried, so a
	// registry that never answers costs about three timeouts, not one per
	// retry.
	Final bool
}

func (e *StallError) Error() string {
	msg := fmt.Sprintf("registry %s: %s %s: no progress for %s while %s", e.Host, e.Method, e.Path, e.After, e.Phase)
	if e.Final {
		msg += fmt.Sprintf(" (no answer from it for %s: not retried)", e.Silent.Round(time.Second))
	}
	return msg
}

// Temporary reports whether the stall is worth retrying: it is unless the
// host has been silent too long (Final).
func (e *StallError) Temporary() bool { return !e.Final }

// Timeout reports true.
func (e *StallError) Timeout() bool { return true }

// watchdog fails every request that makes no progress for its timeouts.
type watchdog struct {
	next http.RoundTripper
	t    Timeouts
	life *liveness
}

func (w *watchdog) RoundTrip(req *http.Request) (*http.Response, error) {
	parent := req.Context()
	ctx, cancel := context.WithCancel(parent)
	st := &stall{cancel: cancel, t: w.t, host: req.URL.Host, method: req.Method, path: req.URL.Path, life: w.life.of(req.URL.Host)}
	req = req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &sentBody{ReadCloser: req.Body, st: st}
		st.arm(PhaseSending)
	} else {
		st.arm(PhaseHeaders)
	}
	resp, err := w.next.RoundTrip(req)
	if err != nil {
		st.stop()
		cancel()
		if se := st.fired(); se != nil {
			return nil, se
		}
		// The caller's context: req's own was just cancelled.
		if se := st.connectTimeout(parent, err); se != nil {
			return nil, se
		}
		return nil, err
	}
	st.life.alive()
	st.arm(PhaseBody)
	resp.Body = &receivedBody{rc: resp.Body, st: st}
	return resp, nil
}

// stall is the watchdog state of one request.
type stall struct {
	cancel             context.CancelFunc
	t                  Timeouts
	host, method, path string
	mu                 sync.Mutex
	phase              Phase
	timer              *time.Timer
	stopped            bool
	err                *StallError
	life               *hostLife
}

func (s *stall) limit(p Phase) time.Duration {
	if p == PhaseHeaders {
		return s.t.Header
	}
	return s.t.Idle
}

// arm moves to phase p (never back to an earlier one) and restarts the clock.
func (s *stall) arm(p Phase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.err != nil || phaseOrder(p) < phaseOrder(s.phase) {
		return
	}
	s.phase = p
	d := s.limit(p)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
		return
	}
	s.timer.Reset(d)
}

func phaseOrder(p Phase) int {
	switch p {
	case PhaseSending:
		return 1
	case PhaseHeaders:
		return 2
	case PhaseBody:
		return 3
	}
	return 0
}

// touch restarts the clock: bytes moved.
func (s *stall) touch() {
	s.life.alive()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil && !s.stopped && s.err == nil {
		s.timer.Reset(s.limit(s.phase))
	}
}

func (s *stall) fire() {
	s.mu.Lock()
	if s.stopped || s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = s.stallError(s.phase, s.limit(s.phase))
	s.mu.Unlock()
	s.cancel()
}

// stallError is the error for a stall in phase after d, final when the
// host has been silent for twice the longest timeout.
func (s *stall) stallError(p Phase, d time.Duration) *StallError {
	silent := s.life.silent()
	return &StallError{Host: s.host, Method: s.method, Path: s.path, Phase: p, After: d,
		Silent: silent, Final: silent >= 2*max(s.t.Header, s.t.Idle, s.t.Connect)}
}

// connectTimeout turns a timeout of the transport itself (TCP connect, TLS
// handshake) into a *StallError, so it counts against the host like any
// stall; nil for other errors and when the caller's context ended.
func (s *stall) connectTimeout(parent context.Context, err error) *StallError {
	var nerr net.Error
	if parent.Err() != nil || !errors.As(err, &nerr) || !nerr.Timeout() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stallError(PhaseConnecting, s.t.Connect)
}

func (s *stall) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *stall) fired() *StallError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// sentBody is a request body whose reads count as progress.
type sentBody struct {
	io.ReadCloser
	st *stall
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.st.touch()
	}
	if errors.Is(err, io.EOF) {
		b.st.arm(PhaseHeaders)
	}
	return n, err
}

// receivedBody is a response body whose reads count as progress; a stall
// surfaces as the *StallError.
type receivedBody struct {
	rc io.ReadCloser
	st *stall
}

func (b *receivedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.st.touch()
	}
	if err != nil {
		if se := b.st.fired(); se != nil {
			return n, se
		}
		if errors.Is(err, io.EOF) {
			b.st.stop()
		}
	}
	return n, err
}

func (b *receivedBody) Close() error {
	b.st.stop()
	err := b.rc.Close()
	b.st.cancel()
	return err
}

// liveness remembers, per host, when it last showed a sign of life: a
// response, or a byte sent or received on any request. A host that has
// been silent for twice the timeouts is taken for gone (StallError.Final).
type liveness struct {
	mu    sync.Mutex
	hosts map[string]*hostLife
}

// of returns host's record; a host first seen now starts its clock now.
func (l *liveness) of(host string) *hostLife {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hosts == nil {
		l.hosts = map[string]*hostLife{}
	}
	h := l.hosts[host]
	if h == nil {
		h = &hostLife{}
		h.alive()
		l.hosts[host] = h
	}
	return h
}

// hostLife is when one host last showed a sign of life (Unix nanoseconds).
type hostLife struct{ last atomic.Int64 }

func (h *hostLife) alive() { h.last.Store(time.Now().UnixNano()) }

func (h *hostLife) silent() time.Duration {
	return time.Duration(time.Now().UnixNano() - h.last.Load())
}
