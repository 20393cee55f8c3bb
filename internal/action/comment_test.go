package action

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/report"
)

func TestCommenterCreatesThenEdits(t *testing.T) {
	for _, api := range []string{"", "/api/v3"} { // github.com and GHES layouts
		t.Run("api"+api, func(t *testing.T) {
			f, srv := newFakeGitHub(t, "Octo-Org", "Hello-World", "tok-123")
			f.seed(42, "LGTM")
			c, err := NewCommenter(srv.Client(), srv.URL+api, "tok-123", "Octo-Org/Hello-World", "nix-layer-action/v9.8.7")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			id1, created, err := c.Upsert(ctx, 42, report.PRCommentMarker, report.PRCommentMarker+"\nfirst")
			if err != nil || !created {
				t.Fatalf("first run: created=%v err=%v", created, err)
			}
			id2, created, err := c.Upsert(ctx, 42, report.PRCommentMarker, report.PRCommentMarker+"\nsecond")
			if err != nil || created || id2 != id1 {
				t.Fatalf("second run: id %d (first %d) created=%v err=%v", id2, id1, created, err)
			}
			cs := f.onIssue(42)
			if len(cs) != 2 || cs[0].Body != "LGTM" || cs[1].Body != report.PRCommentMarker+"\nsecond" {
				t.Errorf("comments on #42: %+v", cs)
			}
			if got := strings.Join(f.log, "; "); !strings.Contains(got, "POST /repos/Octo-Org/Hello-World/issues/42/comments") ||
				!strings.Contains(got, "PATCH /repos/Octo-Org/Hello-World/issues/comments/") {
				t.Errorf("requests: %s", got)
			}
			if len(f.agents) != 1 || !f.agents["nix-layer-action/v9.8.7"] {
				t.Errorf("User-Agents %v, want only nix-layer-action/v9.8.7", f.agents)
			}
		})
	}
}

func TestCommenterFindsMarkerOnLaterPage(t *testing.T) {
	f, srv := newFakeGitHub(t, "o", "r", "tok-123")
	for i := 0; i < 130; i++ {
		f.seed(7, "chatter")
	}
	sticky := f.seed(7, "old diff\n"+report.PRCommentMarker)
	c, _ := NewCommenter(srv.Client(), srv.URL, "tok-123", "o/r", "")
	id, created, err := c.Upsert(context.Background(), 7, report.PRCommentMarker, report.PRCommentMarker+"\nnew")
	if err != nil || created || id != sticky {
		t.Fatalf("id=%d want %d created=%v err=%v", id, sticky, created, err)
	}
	if n := len(f.onIssue(7)); n != 131 {
		t.Errorf("%d comments, want 131 (no new one)", n)
	}
}

func TestCommenterForbidden(t *testing.T) {
	for _, status := range []int{403, 404} {
		f, srv := newFakeGitHub(t, "o", "r", "tok-123")
		f.status = status
		c, _ := NewCommenter(srv.Client(), srv.URL, "tok-123", "o/r", "")
		_, _, err := c.Upsert(context.Background(), 1, report.PRCommentMarker, "x")
		var pe *PermissionError
		if !errors.As(err, &pe) || pe.Status != status {
			t.Errorf("status %d: err = %v", status, err)
		}
	}
	// Other failures are not permission errors.
	_, srv := newFakeGitHub(t, "o", "r", "tok-123")
	c, _ := NewCommenter(srv.Client(), srv.URL, "wrong-token", "o/r", "")
	_, _, err := c.Upsert(context.Background(), 1, report.PRCommentMarker, "x")
	var pe *PermissionError
	if err == nil || errors.As(err, &pe) {
		t.Errorf("401: err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestNewCommenterValidation(t *testing.T) {
	if _, err := NewCommenter(nil, "", "t", "noslash", ""); err == nil {
		t.Error("repository without owner accepted")
	}
	if _, err := NewCommenter(nil, "::bad", "t", "o/r", ""); err == nil {
		t.Error("bad API URL accepted")
	}
}
