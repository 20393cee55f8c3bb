package hostile

import (
	"net/http"
	"net/http/httputil"
	"net/url"
)

// rewrite points a proxied request at the backend. The Alt listener adds
// Options.AltAuthorization to requests that carry none.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(s.backend)
	pr.Out.Host = s.backend.Host
	if l, _ := pr.In.Context().Value(ctxKey{}).(Listener); l == Alt &&
		s.opts.AltAuthorization != "" && pr.Out.Header.Get("Authorization") == "" {
		pr.Out.Header.Set("Authorization", s.opts.AltAuthorization)
	}
}

// modifyResponse keeps the client on the listener it used, except where
// Options.Redirect sends an upload to the Alt listener.
func (s *Server) modifyResponse(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	l, _ := resp.Request.Context().Value(ctxKey{}).(Listener)
	host := s.Host
	if l == Alt || (l == Primary && s.redirectsUpload(resp.Request)) {
		host = s.AltHost
	}
	resp.Header.Set("Location", s.rehost(loc, host))
	return nil
}

// redirectsUpload reports whether the Location answering req goes to Alt.
func (s *Server) redirectsUpload(req *http.Request) bool {
	if !uploadPathRE.MatchString(req.URL.Path) {
		return false
	}
	switch req.Method {
	case http.MethodPost:
		return s.opts.Redirect&RedirectUploadStart != 0
	case http.MethodPatch:
		return s.opts.Redirect&RedirectUploadCommit != 0
	}
	return false
}

// rehost rewrites a Location naming the backend or either listener (or
// none: a relative one) to name host instead. Other hosts are kept.
func (s *Server) rehost(loc, host string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	switch u.Host {
	case "", s.backend.Host, s.Host, s.AltHost:
		u.Scheme, u.Host = "http", host
		return u.String()
	}
	return loc
}

// redirectBlobGet answers a blob GET with 307 to the Alt listener when
// Options.Redirect asks for it.
func (s *Server) redirectBlobGet(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Redirect&RedirectBlobGet == 0 || r.Method != http.MethodGet || !blobPathRE.MatchString(r.URL.Path) {
		return false
	}
	u := url.URL{Scheme: "http", Host: s.AltHost, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
	return true
}
