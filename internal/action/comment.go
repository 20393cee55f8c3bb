package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-github/v62/github"
)

// Commenter maintains one sticky comment (identified by
// report.PRCommentMarker) on a pull request.
type Commenter struct {
	client      *github.Client
	owner, repo string
}

// NewCommenter returns a Commenter talking to the REST API at apiURL
// (GITHUB_API_URL; "" = https://api.github.com) for repository "owner/name".
func NewCommenter(httpClient *http.Client, apiURL, token, repository, userAgent string) (*Commenter, error) {
	owner, repo, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || repo == "" {
		return nil, fmt.Errorf("repository %q is not owner/name", repository)
	}
	c := github.NewClient(httpClient)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	if apiURL != "" {
		u, err := url.Parse(apiURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("invalid GitHub API URL %q", apiURL)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		c.BaseURL = u
	}
	c.UserAgent = "nix-layer-action"
	if userAgent != "" {
		c.UserAgent = userAgent
	}
	return &Commenter{client: c, owner: owner, repo: repo}, nil
}

// PermissionError means the token may not comment (fork pull requests get a
// read-only token): HTTP 403 or 404.
type PermissionError struct {
	Status int
	Err    error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("no permission to comment on the pull request (HTTP %d): %v", e.Status, e.Err)
}
func (e *PermissionError) Unwrap() error { return e.Err }

// Upsert edits the existing sticky comment on pull request number (the
// first carrying marker), or creates it. It returns the comment's ID and
// whether it was created.
func (c *Commenter) Upsert(ctx context.Context, number int, marker, body string) (id int64, created bool, err error) {
	existing, err := c.find(ctx, number, marker)
	if err != nil {
		return 0, false, classify("listing comments", err)
	}
	if existing != 0 {
		if _, _, err := c.client.Issues.EditComment(ctx, c.owner, c.repo, existing, &github.IssueComment{Body: github.String(body)}); err != nil {
			return 0, false, classify("editing comment", err)
		}
		return existing, false, nil
	}
	com, _, err := c.client.Issues.CreateComment(ctx, c.owner, c.repo, number, &github.IssueComment{Body: github.String(body)})
	if err != nil {
		return 0, false, classify("creating comment", err)
	}
	return com.GetID(), true, nil
}

// find returns the ID of the first comment carrying marker, or 0.
func (c *Commenter) find(ctx context.Context, number int, marker string) (int64, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < 100; page++ {
		comments, resp, err := c.client.Issues.ListComments(ctx, c.owner, c.repo, number, opts)
		if err != nil {
			return 0, err
		}
		for _, com := range comments {
			if strings.Contains(com.GetBody(), marker) {
				return com.GetID(), nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
	return 0, nil
}

func classify(what string, err error) error {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		switch er.Response.StatusCode {
		case http.StatusForbidden, http.StatusNotFound:
			return &PermissionError{Status: er.Response.StatusCode, Err: fmt.Errorf("%s: %w", what, err)}
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
