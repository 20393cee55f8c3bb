package substituter

import (
	"net/url"
	"strings"
)

// redactURLText removes the userinfo ("user:pass@") from a URL string, also
// from strings that do not parse as URLs.
func redactURLText(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		return s[:i+3] + rest[at+1:]
	}
	return s
}
