package action

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
)

// fakeGitHub speaks the REST shapes of the issue comment endpoints:
//
//	GET   /repos/{o}/{r}/issues/{n}/comments   (paginated, Link header)
//	POST  /repos/{o}/{r}/issues/{n}/comments
//	PATCH /repos/{o}/{r}/issues/comments/{id}
type fakeGitHub struct {
	t      *testing.T
	owner  string
	repo   string
	token  string
	status int // non-zero: every request fails with this status (e.g. 403)

	mu       sync.Mutex
	comments map[int64]*fakeComment
	nextID   int64
	log      []string // "METHOD path"
	agents   map[string]bool
	bodies   []string // every comment body received
}

type fakeComment struct {
	ID    int64  `json:"id"`
	Issue int    `json:"-"`
	Body  string `json:"body"`
	User  struct {
		Login string `json:"login"`
	} `json:"user"`
}

var (
	listRE  = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$`)
	patchRE = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$`)
)

func newFakeGitHub(t *testing.T, owner, repo, token string) (*fakeGitHub, *httptest.Server) {
	f := &fakeGitHub{t: t, owner: owner, repo: repo, token: token, comments: map[int64]*fakeComment{}, nextID: 1000}
	mux := http.NewServeMux()
	mux.Handle("/api/v3/", http.StripPrefix("/api/v3", f)) // GitHub Enterprise Server layout
	mux.Handle("/", f)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

// seed adds a comment not written by the action.
func (f *fakeGitHub) seed(issue int, body string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	c := &fakeComment{ID: f.nextID, Issue: issue, Body: body}
	c.User.Login = "someone"
	f.comments[c.ID] = c
	return c.ID
}

func (f *fakeGitHub) onIssue(issue int) []*fakeComment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeComment
	for _, c := range f.comments {
		if c.Issue == issue {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	if f.agents == nil {
		f.agents = map[string]bool{}
	}
	f.agents[r.Header.Get("User-Agent")] = true
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprint(w, `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/issues/comments#create-an-issue-comment","status":"403"}`)
		return
	}
	if m := listRE.FindStringSubmatch(r.URL.Path); m != nil && m[1] == f.owner && m[2] == f.repo {
		issue, _ := strconv.Atoi(m[3])
		switch r.Method {
		case http.MethodGet:
			f.list(w, r, issue)
		case http.MethodPost:
			var in struct{ Body string }
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f.mu.Lock()
			f.nextID++
			c := &fakeComment{ID: f.nextID, Issue: issue, Body: in.Body}
			c.User.Login = "github-actions[bot]"
			f.comments[c.ID] = c
			f.bodies = append(f.bodies, in.Body)
			f.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(c)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
		return
	}
	if m := patchRE.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPatch && m[1] == f.owner && m[2] == f.repo {
		id, _ := strconv.ParseInt(m[3], 10, 64)
		var in struct{ Body string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		c, ok := f.comments[id]
		if ok {
			c.Body = in.Body
			f.bodies = append(f.bodies, in.Body)
		}
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(c)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"message":"Not Found"}`)
}

func (f *fakeGitHub) list(w http.ResponseWriter, r *http.Request, issue int) {
	all := f.onIssue(issue)
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	start, end := (page-1)*per, page*per
	if start > len(all) {
		start = len(all)
	}
	if end > len(all) {
		end = len(all)
	}
	if end < len(all) {
		u := *r.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(page+1))
		u.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next"`, r.Host, u.String()))
	}
	out := all[start:end]
	if out == nil {
		out = []*fakeComment{}
	}
	_ = json.NewEncoder(w).Encode(out)
}
