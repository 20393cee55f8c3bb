package substituter

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/org/nix-layer-action/internal/secrets"
)

const (
	testLogin    = "ci-reader"
	testPassword = "hunter2-Zq9"
)

// requireAuth makes the cache answer 401 unless the request carries the
// test credentials, and records what was sent.
func requireAuth(fc *fakeCache) *[]string {
	var mu sync.Mutex
	seen := &[]string{}
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		mu.Lock()
		*seen = append(*seen, fmt.Sprintf("%v:%s:%s", ok, u, p))
		mu.Unlock()
		if !ok || u != testLogin || p != testPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="cache"`)
			http.Error(w, "unauthorized "+u+" "+p, http.StatusUnauthorized) // a server echoing credentials
			return true
		}
		return false
	})
	return seen
}

func writeNetrc(t *testing.T, text string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestNetrcAuth(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(5000))
	requireAuth(fc)
	u := fc.serve()
	host := mustHost(t, u)

	cfg := fc.config(u)
	cfg.NetrcFile = writeNetrc(t, "machine other.example login x password y\n"+
		"machine "+host+"\n  login "+testLogin+"\n  password "+testPassword+"\n")
	run := secrets.New()
	cl := newClient(t, cfg, WithSecrets(run))
	if got := readNAR(t, cl, p); len(got) != len(fc.paths[p].nar) {
		t.Fatal("NAR differs")
	}
	// The netrc's credentials are the run's secrets: whatever else prints
	// them (Nix's own output, the action log) is redacted too.
	basic := base64.StdEncoding.EncodeToString([]byte(testLogin + ":" + testPassword))
	if got := run.String("nix said " + testPassword + " and Basic " + basic); strings.Contains(got, testPassword) || strings.Contains(got, basic) {
		t.Errorf("the run's set does not redact the netrc credentials: %q", got)
	}

	// Wrong password: a 401 whose body echoes the credentials; the error
	// must not contain them.
	cfg.NetrcFile = writeNetrc(t, "default login "+testLogin+" password wrong-"+testPassword+"\n")
	cl = newClient(t, cfg)
	_, err := cl.PathInfos(ctxT(t), []string{p})
	var re *RequestError
	if !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want *RequestError 401", err)
	}
	assertNoSecret(t, err.Error(), testPassword, testLogin)

	// No netrc: 401 too.
	cfg.NetrcFile = ""
	if _, err := newClient(t, cfg).PathInfos(ctxT(t), []string{p}); !errors.As(err, &re) || re.Status != 401 {
		t.Errorf("no netrc: err = %v, want 401", err)
	}
	// A netrc-file that does not exist is no credentials, as in Nix.
	cfg.NetrcFile = filepath.Join(t.TempDir(), "absent")
	if _, err := newClient(t, cfg).PathInfos(ctxT(t), []string{p}); !errors.As(err, &re) || re.Status != 401 {
		t.Errorf("absent netrc: err = %v, want 401", err)
	}
}

func TestURLCredentials(t *testing.T) {
	fc := newFakeCache(t, "none")
	p := fc.add("p-1", payload(5000))
	requireAuth(fc)
	plain := fc.serve()
	withCreds := strings.Replace(plain, "://", "://"+testLogin+":"+testPassword+"@", 1)
	cl := newClient(t, fc.config(withCreds))
	if got := readNAR(t, cl, p); len(got) != len(fc.paths[p].nar) {
		t.Fatal("NAR differs")
	}
	for _, s := range cl.Stats() {
		assertNoSecret(t, s.Cache, testPassword, testLogin)
	}
	// Force failures whose messages carry URLs.
	fc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "broken", http.StatusInternalServerError)
		return true
	})
	_, err := cl.PathInfos(ctxT(t), []string{newStorePath("q-1")})
	if err == nil {
		t.Fatal("no error")
	}
	assertNoSecret(t, err.Error(), testPassword, testLogin)
	if !strings.Contains(err.Error(), plain) {
		t.Errorf("error %q does not name the cache %s", err, plain)
	}
}

func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("text leaks %q: %s", s, text)
		}
	}
}

func mustHost(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}

func TestParseNetrc(t *testing.T) {
	n, err := parseNetrc(`# comment line
machine a.example login la password pa
machine B.Example
	login lb   password pb # trailing comment
	account ignored
macdef init
  cd /pub
  machine evil.example login x password y

default login ld password pd
`)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"a.example": "la:pa", "b.example": "lb:pb", "evil.example": "ld:pd", "c": "ld:pd"} {
		l, p, ok := n.lookup(host)
		if !ok || l+":"+p != want {
			t.Errorf("lookup(%s) = %s:%s %v, want %s", host, l, p, ok, want)
		}
	}
	if _, _, ok := (&netrc{}).lookup("x"); ok {
		t.Error("empty netrc matched")
	}
	for _, bad := range []string{"machine", "machine a login", "login x", "machine a frobnicate " + testPassword} {
		_, err := parseNetrc(bad)
		if err == nil {
			t.Errorf("%q: no error", bad)
		} else {
			assertNoSecret(t, err.Error(), testPassword)
		}
	}
}

func TestRedactURLText(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@host/x":      "https://host/x",
		"https://u@host":          "https://host",
		"https://u:p@[::1":        "https://[::1",
		"not a url u:p@x":         "not a url u:p@x",
		"http://host/a@b":         "http://host/a@b",
		"file:///srv/cache":       "file:///srv/cache",
		"https://u:p@h?x=1#frag":  "https://h?x=1#frag",
		"https://u:p%40x@h/y?z=1": "https://h/y?z=1",
	} {
		if got := redactURLText(in); got != want {
			t.Errorf("redactURLText(%q) = %q, want %q", in, got, want)
		}
	}
}
