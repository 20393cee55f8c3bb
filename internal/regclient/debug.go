package regclient

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/org/nix-layer-action/internal/secrets"
)

// debugLog writes one line per request and one per response to w (a
// redacting writer). Header values are not logged, so no credential is
// ever formatted; URLs and error bodies pass through the redaction.
type debugLog struct {
	next http.RoundTripper
	w    *secrets.Writer
}

func (d *debugLog) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	auth := "none"
	if h := req.Header.Get("Authorization"); h != "" {
		auth = schemeOf(h)
	}
	fmt.Fprintf(d.w, "debug: --> %s %s (auth: %s)\n", req.Method, req.URL.Redacted(), auth)
	resp, err := d.next.RoundTrip(req)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		fmt.Fprintf(d.w, "debug: <-- %s %s: %v (%s)\n", req.Method, req.URL.Redacted(), err, took)
		return resp, err
	}
	fmt.Fprintf(d.w, "debug: <-- %s %s: %s (%s)\n", req.Method, req.URL.Redacted(), resp.Status, took)
	if loc := resp.Header.Get("Location"); loc != "" {
		fmt.Fprintf(d.w, "debug:     Location: %s\n", loc)
	}
	return resp, nil
}

func schemeOf(h string) string {
	for i := 0; i < len(h); i++ {
		if h[i] == ' ' {
			return h[:i]
		}
	}
	return "credential"
}

var _ io.Writer = (*secrets.Writer)(nil)
