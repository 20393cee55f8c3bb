package actionrunner

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FakeGitHub is a stand-in for the three GitHub REST calls of the sticky PR
// comment (list, create, edit issue comments) of one repository, on
// loopback. Every other call fails the test.
type FakeGitHub struct {
	URL string // GITHUB_API_URL

	repo, token string
	mu          sync.Mutex
	comments    map[int64]string
	nextID      int64
	creates     int
	edits       int
	authorized  int
	anonymous   int
}

// StartFakeGitHub serves repo ("owner/name") and accepts token as the only
// credential ("Bearer" or "token" scheme). It stops at test cleanup.
func StartFakeGitHub(t testing.TB, repo, token string) *FakeGitHub {
	t.Helper()
	f := &FakeGitHub{repo: repo, token: token, comments: map[int64]string{}}
	srv := httptest.NewServer(f.handler(t))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *FakeGitHub) handler(t testing.TB) http.Handler {
	mux := http.NewServeMux()
	base := "/repos/" + f.repo + "/issues/"
	mux.HandleFunc("GET "+base+"{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		if !f.auth(w, r) {
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []map[string]any{}
		for id, body := range f.comments {
			out = append(out, map[string]any{"id": id, "body": body, "user": map[string]any{"login": "github-actions[bot]"}})
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST "+base+"{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		if !f.auth(w, r) {
			return
		}
		var in struct{ Body string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.nextID++
		f.comments[f.nextID] = in.Body
		f.creates++
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": f.nextID, "body": in.Body})
	})
	mux.HandleFunc("PATCH "+base+"comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !f.auth(w, r) {
			return
		}
		var in struct{ Body string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.comments[id]; !ok {
			http.NotFound(w, r)
			return
		}
		f.comments[id] = in.Body
		f.edits++
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "body": in.Body})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake GitHub: unexpected call %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	return mux
}

// auth answers 401 unless the request carries the token.
func (f *FakeGitHub) auth(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	f.mu.Lock()
	defer f.mu.Unlock()
	if (scheme == "Bearer" || scheme == "token") && cred == f.token && f.token != "" {
		f.authorized++
		return true
	}
	f.anonymous++
	http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
	return false
}

// Comments returns the comment bodies and how many were created and edited,
// and how many requests carried the token.
func (f *FakeGitHub) Comments() (bodies []string, creates, edits, authorized int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range sortedIDs(f.comments) {
		bodies = append(bodies, f.comments[id])
	}
	return bodies, f.creates, f.edits, f.authorized
}

func sortedIDs(m map[int64]string) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}
