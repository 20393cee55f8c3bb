package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// req is one access log line of the registry or nginx.
type req struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	Bytes  int64  `json:"bytes"` // response body bytes
	UA     string `json:"ua,omitempty"`
}

// accessLog reads a growing access log in windows delimited by marker
// requests: every request a command made is logged before the marker
// sent after the command ended.
type accessLog struct {
	file     string
	markURL  func(n int) string
	parse    func(line string) (req, bool)
	isMarker func(r req) bool
	n        int
	consumed int // lines already handed out
}

// mark sends a marker request, waits until it is logged and returns the
// requests logged since the previous mark (markers left out).
func (l *accessLog) mark() []req {
	l.n++
	url := l.markURL(l.n)
	resp, err := http.Get(url)
	if err != nil {
		fatalf("marker request %s: %v", url, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := readLines(l.file)
		for i := l.consumed; i < len(lines); i++ {
			r, ok := l.parse(lines[i])
			if !ok || !l.isMarker(r) || !strings.HasSuffix(url, r.Path) {
				continue
			}
			var out []req
			for _, line := range lines[l.consumed:i] {
				if r, ok := l.parse(line); ok && !l.isMarker(r) {
					out = append(out, r)
				}
			}
			l.consumed = i + 1
			return out
		}
		if time.Now().After(deadline) {
			fatalf("%s: marker %s not logged within 10s", l.file, url)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLines(file string) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// combined is the registry's access log format (Apache combined).
var combined = regexp.MustCompile(`^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d+) (\d+|-) "[^"]*" "([^"]*)"`)

func newRegistryLog(file, host string) *accessLog {
	return &accessLog{
		file:    file,
		markURL: func(n int) string { return fmt.Sprintf("http://%s/v2/bench-marker/manifests/m%d", host, n) },
		parse: func(line string) (req, bool) {
			m := combined.FindStringSubmatch(line)
			if m == nil {
				return req{}, false
			}
			st, _ := strconv.Atoi(m[3])
			n, _ := strconv.ParseInt(m[4], 10, 64)
			return req{Method: m[1], Path: m[2], Status: st, Bytes: n, UA: m[5]}, true
		},
		isMarker: func(r req) bool { return strings.HasPrefix(r.Path, "/v2/bench-marker/") },
	}
}

// newNginxLog reads bench.sh's nginx format
// "$request_method $request_uri $status $body_bytes_sent $bytes_sent".
func newNginxLog(file, base string) *accessLog {
	return &accessLog{
		file:    file,
		markURL: func(n int) string { return fmt.Sprintf("%s/.bench-sync-%d", base, n) },
		parse: func(line string) (req, bool) {
			f := strings.Fields(line)
			if len(f) != 5 {
				return req{}, false
			}
			st, _ := strconv.Atoi(f[2])
			n, _ := strconv.ParseInt(f[3], 10, 64)
			return req{Method: f[0], Path: f[1], Status: st, Bytes: n}, true
		},
		isMarker: func(r req) bool { return strings.HasPrefix(r.Path, "/.bench-sync-") },
	}
}

// traffic sums nginx requests by kind.
type traffic struct {
	NarinfoRequests int   `json:"narinfoRequests"`
	NarinfoBytes    int64 `json:"narinfoBytes"`
	NARRequests     int   `json:"narRequests"`
	NARBytes        int64 `json:"narBytes"` // compressed, as sent
	DistinctNARs    int   `json:"distinctNARs"`
	OtherRequests   int   `json:"otherRequests"`
	OtherBytes      int64 `json:"otherBytes"`
}

func summarize(reqs []req) traffic {
	var t traffic
	seen := map[string]bool{}
	for _, r := range reqs {
		p, _, _ := strings.Cut(r.Path, "?")
		switch {
		case strings.HasSuffix(p, ".narinfo"):
			t.NarinfoRequests++
			t.NarinfoBytes += r.Bytes
		case strings.Contains(p, "/nar/"):
			t.NARRequests++
			t.NARBytes += r.Bytes
			if !seen[p] {
				seen[p] = true
				t.DistinctNARs++
			}
		default:
			t.OtherRequests++
			t.OtherBytes += r.Bytes
		}
	}
	return t
}

func (t traffic) add(u traffic) traffic {
	return traffic{t.NarinfoRequests + u.NarinfoRequests, t.NarinfoBytes + u.NarinfoBytes, t.NARRequests + u.NARRequests,
		t.NARBytes + u.NARBytes, t.DistinctNARs + u.DistinctNARs, t.OtherRequests + u.OtherRequests, t.OtherBytes + u.OtherBytes}
}
