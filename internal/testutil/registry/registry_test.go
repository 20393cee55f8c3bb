package registry

import (
	"net/http"
	"testing"
)

func TestStartAnonymous(t *testing.T) {
	r := Start(t, Options{})
	resp, err := http.Get(r.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ = %d, want 200", resp.StatusCode)
	}
	if got, want := r.Ref("a/b"), r.Host+"/a/b"; got != want {
		t.Fatalf("Ref = %q, want %q", got, want)
	}
}

func TestStartHtpasswd(t *testing.T) {
	r := Start(t, Options{Htpasswd: map[string]string{"alice": "s3cret-pw"}})
	get := func(user, pw string) int {
		req, _ := http.NewRequest(http.MethodGet, r.URL()+"/v2/", nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("", ""); c != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d, want 401", c)
	}
	if c := get("alice", "wrong"); c != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", c)
	}
	if c := get("alice", "s3cret-pw"); c != http.StatusOK {
		t.Fatalf("right password: %d, want 200", c)
	}
}
