package hostile

import (
	"net/http"
	"regexp"
)

// Behaviour is what the server does to a request a Rule matches.
type Behaviour string

// Behaviours.
const (
	// Pass forwards the request normally (the behaviour of unmatched requests).
	Pass Behaviour = ""
	// StallHeaders reads nothing more and never sends response headers.
	StallHeaders Behaviour = "stall-headers"
	// StallBody sends the status, headers and Rule.After bytes of the body
	// (default: half the Content-Length), then stops sending. A response
	// without a body (HEAD, 202, ...) goes through untouched.
	StallBody Behaviour = "stall-body"
	// StallUpload reads Rule.After bytes of the request body (default: half
	// its Content-Length, or 32 KiB when unknown), then stops reading and
	// never answers.
	StallUpload Behaviour = "stall-upload"
	// EchoAuth401 answers 401 UNAUTHORIZED with a Basic challenge and a body
	// repeating the Authorization header (see Server docs). Matched against
	// the /v2/ ping it also makes a client with credentials send them.
	EchoAuth401 Behaviour = "echo-auth-401"
	// EchoAuth403 answers 403 DENIED with a body repeating the Authorization header.
	EchoAuth403 Behaviour = "echo-auth-403"
)

// Listener names one of a Server's two loopback listeners.
type Listener string

// Listeners.
const (
	// AnyListener matches requests on either listener (Rule.On).
	AnyListener Listener = ""
	// Primary is the registry host (Server.Host).
	Primary Listener = "primary"
	// Alt is the second host (Server.AltHost) that redirects point to.
	Alt Listener = "alt"
)

// Rule applies Behaviour to requests matching Method (empty = any), Path
// (nil = any), Query (raw query; nil = any) and On (AnyListener = both).
// Nth (1-based; 0 means 1) is the first matching occurrence to affect;
// Times is how many consecutive matches from Nth on are affected (0 means
// 1, negative means every one). A Rule belongs to one Server; its counters
// are guarded by that server.
type Rule struct {
	Method    string
	Path      *regexp.Regexp
	Query     *regexp.Regexp
	On        Listener
	Nth       int
	Times     int
	Behaviour Behaviour
	// After is the byte count for StallBody and StallUpload (0 = default).
	After int64

	seen int
}

// matches reports whether the request is of the kind the rule targets.
func (r *Rule) matches(l Listener, req *http.Request) bool {
	if r.Method != "" && r.Method != req.Method {
		return false
	}
	if r.On != AnyListener && r.On != l {
		return false
	}
	if r.Path != nil && !r.Path.MatchString(req.URL.Path) {
		return false
	}
	return r.Query == nil || r.Query.MatchString(req.URL.RawQuery)
}

// fire counts a matching request and reports whether this occurrence is affected.
func (r *Rule) fire() bool {
	r.seen++
	nth := max(r.Nth, 1)
	times := r.Times
	if times == 0 {
		times = 1
	}
	return r.seen >= nth && (times < 0 || r.seen < nth+times)
}

// stalls reports whether b holds a request until the client or test ends.
func (b Behaviour) stalls() bool {
	return b == StallHeaders || b == StallBody || b == StallUpload
}
