package hostile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Defaults for the byte counts of stalls.
const (
	defaultUploadStall  = 32 << 10 // request body bytes read before StallUpload when the length is unknown
	defaultUnknownStall = 512      // response body bytes sent before StallBody when the length is unknown
)

// misbehave applies rule to the request. It either answers (handled),
// aborts it (the stalls, which do not return), or returns the writer the
// normal path should use.
func (s *Server) misbehave(w http.ResponseWriter, r *http.Request, rule *Rule) (http.ResponseWriter, bool) {
	switch rule.Behaviour {
	case StallHeaders:
		s.stall(r)
	case StallUpload:
		s.stallUpload(r, rule.After)
	case StallBody:
		// Stalls inside Write, once the headers and part of the body are out.
		return &stallWriter{ResponseWriter: w, after: rule.After, stall: func() { s.stall(r) }}, false
	case EchoAuth401:
		w.Header().Set("WWW-Authenticate", `Basic realm="hostile"`)
		echoAuth(w, r, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return w, true
	case EchoAuth403:
		echoAuth(w, r, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
		return w, true
	}
	return w, false
}

// stall waits until the client goes away or the server closes, then
// aborts the response: the client never sees it complete (returning would
// let net/http answer 200 or finish a short body).
func (s *Server) stall(r *http.Request) {
	s.wait(r)
	panic(http.ErrAbortHandler)
}

// stallUpload reads part of the request body, then stalls without answering.
func (s *Server) stallUpload(r *http.Request, after int64) {
	n := after
	if n <= 0 {
		n = defaultUploadStall
		if r.ContentLength > 0 {
			n = r.ContentLength / 2
		}
	}
	if r.Body != nil {
		_, _ = io.CopyN(io.Discard, r.Body, n)
	}
	s.stall(r)
}

// stallWriter passes the status and headers, then `after` body bytes
// (default: half the Content-Length), flushes, and stalls.
type stallWriter struct {
	http.ResponseWriter
	after int64
	stall func()
	sized bool
}

// WriteHeader sizes the part to send from the Content-Length.
func (s *stallWriter) WriteHeader(code int) {
	if !s.sized {
		s.sized = true
		if s.after <= 0 {
			s.after = defaultUnknownStall
			if n, err := strconv.ParseInt(s.Header().Get("Content-Length"), 10, 64); err == nil {
				s.after = n / 2
			}
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write passes bytes until the part is sent, then stalls (never returns).
func (s *stallWriter) Write(p []byte) (int, error) {
	if !s.sized {
		s.WriteHeader(http.StatusOK)
	}
	if int64(len(p)) <= s.after {
		n, err := s.ResponseWriter.Write(p)
		s.after -= int64(n)
		return n, err
	}
	_, _ = s.ResponseWriter.Write(p[:s.after])
	_ = http.NewResponseController(s.ResponseWriter).Flush()
	s.stall() // does not return
	return 0, nil
}

// Flush sends buffered data to the client.
func (s *stallWriter) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection.
func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// echoAuth answers an error in the distribution format whose message and
// detail repeat the Authorization header verbatim and base64-decoded.
func echoAuth(w http.ResponseWriter, r *http.Request, code int, ecode, msg string) {
	raw := r.Header.Get("Authorization")
	decoded := DecodeAuthorization(raw)
	detail := map[string]string{"authorization": raw, "decoded": decoded}
	writeError(w, code, ecode, msg+" (Authorization: "+raw+"; decoded: "+decoded+")", detail)
}

// DecodeAuthorization returns the credential in an Authorization header
// value: "user:password" for Basic, the token for Bearer (or anything
// else), "" for none.
func DecodeAuthorization(h string) string {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok {
		return h
	}
	if strings.EqualFold(scheme, "basic") {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
			return string(b)
		}
	}
	return strings.TrimSpace(cred)
}

// BasicAuthorization returns the Basic Authorization header value for user and password.
func BasicAuthorization(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// writeError answers a registry error body, without HTML escaping so
// echoed values stay verbatim.
func writeError(w http.ResponseWriter, code int, ecode, msg string, detail any) {
	type apiErr struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string][]apiErr{"errors": {{Code: ecode, Message: msg, Detail: detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}
