package hostile

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// pusher uploads blobs and manifests with the registry's plain HTTP API
// (no go-containerregistry, no product code), as another tool would.
type pusher struct {
	base     *url.URL
	repo     string
	user     string
	password string
	client   *http.Client
}

func newPusher(registry, repo, user, password string) (*pusher, error) {
	u, err := url.Parse(registry)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad registry URL %q", registry)
	}
	return &pusher{base: u, repo: repo, user: user, password: password,
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{}}}, nil
}

// close drops the pusher's idle connections.
func (p *pusher) close() { p.client.CloseIdleConnections() }

func (p *pusher) do(method, target string, body []byte, contentType string) (*http.Response, error) {
	u, err := p.base.Parse(target)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if p.user != "" {
		req.SetBasicAuth(p.user, p.password)
	}
	return p.client.Do(req)
}

// expect reads and closes resp, failing unless its status is want.
func expect(resp *http.Response, want int, what string) error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %s %s: status %d, want %d: %s", what, resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
	return nil
}

// blob uploads data in one POST + monolithic PUT (skipped if present).
func (p *pusher) blob(data []byte) error {
	digest := digestOf(data)
	resp, err := p.do(http.MethodHead, "/v2/"+p.repo+"/blobs/"+digest, nil, "")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	resp, err = p.do(http.MethodPost, "/v2/"+p.repo+"/blobs/uploads/", nil, "")
	if err != nil {
		return err
	}
	loc := resp.Header.Get("Location")
	if err := expect(resp, http.StatusAccepted, "start upload"); err != nil {
		return err
	}
	u, err := p.base.Parse(loc)
	if err != nil {
		return fmt.Errorf("upload Location %q: %w", loc, err)
	}
	q := u.Query()
	q.Set("digest", digest)
	u.RawQuery = q.Encode()
	resp, err = p.do(http.MethodPut, u.String(), data, "application/octet-stream")
	if err != nil {
		return err
	}
	return expect(resp, http.StatusCreated, "upload blob "+digest)
}

// manifest PUTs a manifest at ref and returns the digest the registry reports.
func (p *pusher) manifest(ref, mediaType string, body []byte) (string, error) {
	resp, err := p.do(http.MethodPut, "/v2/"+p.repo+"/manifests/"+ref, body, mediaType)
	if err != nil {
		return "", err
	}
	got := resp.Header.Get("Docker-Content-Digest")
	if err := expect(resp, http.StatusCreated, "put manifest"); err != nil {
		return "", err
	}
	if want := digestOf(body); got != want {
		return "", fmt.Errorf("registry reports manifest digest %q, want %q", got, want)
	}
	return got, nil
}
