package regclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Phase is the part of a request that stalled.
type Phase string

// Request phases the watchdog tells apart.
const (
	PhaseSending Phase = "sending the request body"
	PhaseHeaders Phase = "waiting for the response headers"
	PhaseBody    Phase = "reading the response body"
)

// StallError reports a request that made no progress for too long. It is
// temporary (go-containerregistry retries it within the run's budget).
type StallError struct {
	Host, Method, Path string
	Phase              Phase
	After              time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("registry %s: %s %s: no progress for %s while %s", e.Host, e.Method, e.Path, e.After, e.Phase)
}

// Temporary reports true: a stalled request is worth retrying.
func (e *StallError) Temporary() bool { return true }

// Timeout reports true.
func (e *StallError) Timeout() bool { return true }

// watchdog fails every request that makes no progress for its timeouts.
type watchdog struct {
	next http.RoundTripper
	t    Timeouts
}

func (w *watchdog) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	st := &stall{cancel: cancel, t: w.t, host: req.URL.Host, method: req.Method, path: req.URL.Path}
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
		return nil, err
	}
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
	s.err = &StallError{Host: s.host, Method: s.method, Path: s.path, Phase: s.phase, After: s.limit(s.phase)}
	s.mu.Unlock()
	s.cancel()
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
