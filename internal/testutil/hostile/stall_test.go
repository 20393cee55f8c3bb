package hostile

import (
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/testutil/registry"
)

func TestStallHeadersTimesOutClient(t *testing.T) {
	s := Start(t, Options{Rules: []*Rule{{Method: http.MethodGet, Path: regexp.MustCompile(`/manifests/`), Behaviour: StallHeaders}}})
	served := s.Serve(t, "stall/headers", "v1", Shape{Kind: ConfigNotJSON})
	tr := &http.Transport{ResponseHeaderTimeout: 200 * time.Millisecond}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	start := time.Now()
	_, err := client.Get(s.URL + "/v2/stall/headers/manifests/v1")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("GET of a stalled manifest: err=%v after %s, want a header timeout", err, time.Since(start))
	}
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	// Only the first match stalls: the second GET is answered.
	resp, err := client.Get(s.URL + "/v2/stall/headers/manifests/v1")
	if err != nil {
		t.Fatalf("second GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != string(served.Manifest) {
		t.Fatalf("second GET body = %q, want the canned manifest", body)
	}
	waitFor(t, "the stalled handler to return", func() bool { return s.Requests()[0].Done })
	got := s.Requests()
	if len(got) != 2 || got[0].Behaviour != StallHeaders || got[0].Status != 0 || got[1].Status != http.StatusOK {
		t.Fatalf("requests:\n%s", got)
	}
}

// A client with no timeout at all is released when the test ends, and no
// server goroutine is left behind.
func TestStallsEndWithTheTest(t *testing.T) {
	errs := make(chan error, 3)
	t.Run("stalled", func(t *testing.T) {
		s := Start(t, Options{Rules: []*Rule{
			{Path: regexp.MustCompile(`/manifests/headers$`), Behaviour: StallHeaders},
			{Method: http.MethodGet, Path: regexp.MustCompile(`/blobs/`), Behaviour: StallBody},
			{Method: http.MethodPut, Behaviour: StallUpload, After: 1000},
		}})
		served := s.Serve(t, "stall/all", "headers", Shape{Kind: HugeConfig, ConfigSize: 1 << 20})
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		go func() {
			_, err := client.Get(s.URL + "/v2/stall/all/manifests/headers")
			errs <- err
		}()
		go func() {
			resp, err := client.Get(s.URL + "/v2/stall/all/blobs/" + served.ConfigDigest)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
		go func() {
			req, _ := http.NewRequest(http.MethodPut, s.URL+"/v2/stall/all/blobs/uploads/x", io.LimitReader(zeros{}, 64<<20))
			_, err := client.Do(req)
			errs <- err
		}()
		waitFor(t, "three stalled requests", func() bool {
			n := 0
			for _, r := range s.Requests() {
				if r.Behaviour != Pass && !r.Done && (r.Behaviour != StallUpload || r.BytesIn == 1000) {
					n++
				}
			}
			return n == 3
		})
	})
	for range 3 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a stalled request completed without error after the server closed")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a client of a stalled request was not released when the test ended")
		}
	}
	requireNoLeaks(t)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestStallBodySendsHalf(t *testing.T) {
	const size = 1 << 20
	s := Start(t, Options{Rules: []*Rule{{Method: http.MethodGet, Path: regexp.MustCompile(`/blobs/`), Times: -1, Behaviour: StallBody}}})
	served := s.Serve(t, "stall/body", "v1", Shape{Kind: HugeConfig, ConfigSize: size})
	client := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := client.Get(s.URL + "/v2/stall/body/blobs/" + served.ConfigDigest)
	if err != nil {
		t.Fatalf("GET: %v (headers must arrive)", err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != size {
		t.Fatalf("Content-Length = %d, want %d", resp.ContentLength, size)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n != size/2 {
		t.Fatalf("read %d bytes, err %v; want %d bytes then a timeout", n, err, size/2)
	}
	// ggcr, through a context deadline, gives up too.
	img, err := remote.Image(mustRef(t, served.Ref), remote.WithContext(ctxFor(t, 500*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.RawConfigFile(); err == nil {
		t.Fatal("ggcr read a config whose body stalls")
	}
	got := s.Settled(t).Where(http.MethodGet, `/blobs/`)
	if len(got) != 2 {
		t.Fatalf("want 2 blob GETs:\n%s", got)
	}
	for _, r := range got {
		if r.Behaviour != StallBody || r.Status != http.StatusOK || r.BytesOut != size/2 {
			t.Fatalf("want each blob GET cut at %d bytes:\n%s", size/2, got)
		}
	}
}

func TestStallBodyOfProxiedManifest(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	s := Start(t, Options{Backend: reg.URL(), Rules: []*Rule{{Method: http.MethodGet, Path: regexp.MustCompile(`/manifests/`), Behaviour: StallBody}}})
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, reg.Ref("stall/proxied:v1")), img); err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	_, err = remote.Image(mustRef(t, s.Ref("stall/proxied:v1")), remote.WithContext(ctxFor(t, 500*time.Millisecond)))
	if err == nil {
		t.Fatal("ggcr read a manifest whose body stalls")
	}
	got := s.Settled(t).Where(http.MethodGet, `/manifests/`)
	if len(got) != 1 || got[0].Status != http.StatusOK || got[0].BytesOut != int64(len(raw)/2) {
		t.Fatalf("want one 200 manifest GET cut at %d of %d bytes:\n%s", len(raw)/2, len(raw), got)
	}
}

func TestStallUploadStopsReading(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	s := Start(t, Options{Backend: reg.URL(), Rules: []*Rule{{Method: http.MethodPatch, Times: -1, Behaviour: StallUpload, After: 10_000}}})
	img, err := random.Image(1<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = remote.Write(mustRef(t, s.Ref("stall/upload:v1")), img, remote.WithContext(ctxFor(t, time.Second)), remote.WithRetryBackoff(fast))
	if err == nil {
		t.Fatal("push through a stalled upload succeeded")
	}
	// Config (small, read whole) and layer PATCHes run side by side; the
	// layer's stops at 10000 bytes. None is answered.
	patches := s.Settled(t).Where(http.MethodPatch, "")
	var most int64
	for _, p := range patches {
		if p.Behaviour != StallUpload || p.Status != 0 {
			t.Fatalf("want every PATCH stalled, unanswered:\n%s", s.Requests())
		}
		most = max(most, p.BytesIn)
	}
	if len(patches) != 2 || most != 10_000 {
		t.Fatalf("want 2 PATCHes, the layer's read up to 10000 bytes:\n%s", s.Requests())
	}
	if _, err := remote.Head(mustRef(t, reg.Ref("stall/upload:v1"))); err == nil {
		t.Fatal("the image reached the registry although its upload stalled")
	}
}
