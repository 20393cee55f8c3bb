package memregistry

import (
	"net/http"
	"testing"
)

// TestStartLogsRequests checks that the registry answers the API base and
// logs each request with its User-Agent.
func TestStartLogsRequests(t *testing.T) {
	r := Start(t)
	req, err := http.NewRequest(http.MethodGet, "http://"+r.Host+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "probe/1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/: %s", resp.Status)
	}
	if got := r.Requests(); len(got) != 1 || got[0] != "GET /v2/" {
		t.Errorf("Requests() = %v, want [GET /v2/]", got)
	}
	if got := r.Take(); len(got) != 1 || len(r.Requests()) != 0 {
		t.Errorf("Take() = %v and left %v", got, r.Requests())
	}
	if n := r.UserAgents()["probe/1"]; n != 1 {
		t.Errorf("UserAgents()[probe/1] = %d, want 1", n)
	}
}
