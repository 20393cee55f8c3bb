package substituter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stallUntil returns a func for handlers that hang "forever": until the
// test ends or the client goes away.
func stallUntil(t *testing.T) func(r *http.Request) {
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	return func(r *http.Request) {
		select {
		case <-ch:
		case <-r.Context().Done():
		}
	}
}

func TestStalledHeaders(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(100))
	stop := stallUntil(t)
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".narinfo") {
			stop(r)
			return true
		}
		return false
	})
	u := fc.serve()
	cl := newClient(t, fc.config(u), WithResponseHeaderTimeout(200*time.Millisecond), WithRetries(1, time.Millisecond, time.Millisecond))
	start := time.Now()
	_, err := cl.PathInfos(ctxT(t), []string{p})
	var te *TimeoutError
	if !errors.As(err, &te) || te.Cache != u || !strings.HasSuffix(te.URL, hashPart(p)+".narinfo") || te.Phase != "response headers" {
		t.Fatalf("err = %v, want *TimeoutError for headers naming %s and the narinfo URL", err, u)
	}
	if !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), hashPart(p)+".narinfo") {
		t.Errorf("message %q does not name the cache and the request", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	if n := fc.requestCount("/" + hashPart(p) + ".narinfo"); n != 2 {
		t.Errorf("narinfo requested %d times, want 2 (one retry)", n)
	}
}

func TestStalledNarinfoBody(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(100))
	stop := stallUntil(t)
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".narinfo") {
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte("StorePath: "))
			w.(http.Flusher).Flush()
			stop(r)
			return true
		}
		return false
	})
	u := fc.serve()
	cl := newClient(t, fc.config(u), WithIdleTimeout(200*time.Millisecond), WithRetries(0, time.Millisecond, time.Millisecond))
	_, err := cl.PathInfos(ctxT(t), []string{p})
	var te *TimeoutError
	if !errors.As(err, &te) || te.Cache != u || te.Phase != "body bytes" || !strings.Contains(te.URL, ".narinfo") {
		t.Fatalf("err = %v, want *TimeoutError for the body", err)
	}
}

// TestStalledNARBody: a NAR that stops flowing mid-stream fails the Read
// with a *TimeoutError naming the cache and the NAR URL.
func TestStalledNARBody(t *testing.T) {
	for _, xzCmd := range []bool{false, true} {
		comp := "none"
		var opts []Option
		if xzCmd {
			comp = "xz"
			opts = append(opts, WithXZCommand(xzCommand(t)))
		}
		t.Run(comp, func(t *testing.T) {
			fc := newFakeCache(t, comp)
			p := fc.add("p-1", payload(256<<10))
			stop := stallUntil(t)
			fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasPrefix(r.URL.Path, "/nar/") {
					return false
				}
				data, _ := os.ReadFile(filepath.Join(fc.dir, r.URL.Path))
				w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				w.Write(data[:len(data)/2])
				w.(http.Flusher).Flush()
				stop(r)
				return true
			})
			u := fc.serve()
			cl := newClient(t, fc.config(u), append(opts, WithIdleTimeout(300*time.Millisecond))...)
			rc, err := cl.OpenNAR(ctxT(t), p)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			start := time.Now()
			_, err = io.Copy(io.Discard, rc)
			var te *TimeoutError
			if !errors.As(err, &te) || te.Cache != u || !strings.Contains(te.URL, "/nar/") {
				t.Fatalf("err = %v, want *TimeoutError naming %s and the NAR", err, u)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestContextCancelStopsLookups(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(100))
	stop := stallUntil(t)
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".narinfo") {
			stop(r)
			return true
		}
		return false
	})
	cl := newClient(t, fc.config(fc.serve()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := cl.PathInfos(ctx, []string{p})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	// The cancelled lookup is not remembered: a later call asks again.
	fc.setHook(nil)
	if _, err := cl.PathInfos(ctxT(t), []string{p}); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}
