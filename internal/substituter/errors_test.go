package substituter

import (
	"errors"
	"net/url"
	"testing"
)

// A transport failure names the request once, not again inside Go's
// url.Error text.
func TestRequestErrorNamesTheURLOnce(t *testing.T) {
	err := &RequestError{Cache: "http://c", Method: "GET", URL: "http://c/nix-cache-info", Attempts: 4,
		Err: &url.Error{Op: "Get", URL: "http://c/nix-cache-info", Err: errors.New("dial tcp: connection refused")}}
	want := "substituter: GET http://c/nix-cache-info (cache http://c): dial tcp: connection refused (after 4 attempts)"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}
