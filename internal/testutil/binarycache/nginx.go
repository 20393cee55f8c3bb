package binarycache

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil"
)

// Server is an nginx serving a directory on a free 127.0.0.1 port.
type Server struct {
	URL     string // http://127.0.0.1:PORT (or the ServeOn address)
	Root    string
	dir     string // config, pid, logs
	logPath string
	cmd     *exec.Cmd
	exited  chan error // receives the master's exit once
	syncs   int
}

// nginxConf is the whole configuration: one worker running as root (the
// served dir is a 0700 temp dir), no daemon, every path in the temp dir,
// and an access log line "METHOD URI STATUS BODY_BYTES BYTES" per request.
const nginxConf = `daemon off;
master_process on;
user root root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
  log_format cache '$request_method $request_uri $status $body_bytes_sent $bytes_sent';
  access_log %[1]s/access.log cache;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  types { text/x-nix-narinfo narinfo; text/plain nix-cache-info; }
  default_type application/octet-stream;
  sendfile on;
  server {
    listen %[2]s;
    root %[3]s;
    location / { autoindex off; }
  }
}
`

// Serve starts nginx (Debian's /usr/sbin/nginx) serving root and stops it
// at cleanup.
func Serve(t testing.TB, root string) *Server {
	t.Helper()
	return ServeOn(t, root, "127.0.0.1")
}

// ServeOn is Serve listening on ip (e.g. the host side of a shaped link,
// internal/testutil/netlink).
func ServeOn(t testing.TB, root, ip string) *Server {
	t.Helper()
	bin := nginxBinary(t)
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		s, err := startNginx(t, bin, root, ip)
		if err == nil {
			t.Cleanup(func() { s.stop(t) })
			return s
		}
		lastErr = err
	}
	t.Fatalf("binarycache: starting nginx: %v", lastErr)
	return nil
}

func nginxBinary(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return testutil.RequireTool(t, "nginx")
}

func startNginx(t testing.TB, bin, root, ip string) (*Server, error) {
	port, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	s := &Server{URL: "http://" + addr, Root: root, dir: t.TempDir()}
	s.logPath = filepath.Join(s.dir, "access.log")
	conf := filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, s.dir, addr, root)), 0o644); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "-p", s.dir, "-e", filepath.Join(s.dir, "error.log"), "-c", conf)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.URL[len("http://"):], 200*time.Millisecond); err == nil {
			c.Close()
			return s, nil
		}
		select {
		case err := <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			return nil, fmt.Errorf("nginx exited: %v\n%s", err, log)
		case <-deadline:
			s.cmd.Process.Kill()
			<-s.exited
			return nil, fmt.Errorf("nginx did not listen on %s within 10s", s.URL)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop asks the nginx master (our child, by its pid) to shut down fast
// (SIGTERM) and reaps it, killing it after 5s.
func (s *Server) stop(t testing.TB) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		t.Logf("binarycache: nginx did not stop on SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Request is one access log line.
type Request struct {
	Method    string
	URI       string
	Status    int
	BodyBytes int64 // $body_bytes_sent
	Bytes     int64 // $bytes_sent (headers included)
}

// Kind classifies a request: "narinfo", "nar" (under /nar/) or "other".
func (r Request) Kind() string {
	path, _, _ := strings.Cut(r.URI, "?")
	switch {
	case strings.HasSuffix(path, ".narinfo"):
		return "narinfo"
	case strings.HasPrefix(path, "/nar/"):
		return "nar"
	}
	return "other"
}

// ParseAccessLog parses access log lines in the Server's format.
func ParseAccessLog(r io.Reader) ([]Request, error) {
	var out []Request
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("access log line %d: want 5 fields, got %q", n, sc.Text())
		}
		status, err1 := strconv.Atoi(f[2])
		body, err2 := strconv.ParseInt(f[3], 10, 64)
		total, err3 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("access log line %d: bad numbers in %q", n, sc.Text())
		}
		out = append(out, Request{Method: f[0], URI: f[1], Status: status, BodyBytes: body, Bytes: total})
	}
	return out, sc.Err()
}

// Requests returns every request logged so far, in log order. It first
// makes a marker request and waits until nginx has logged it, so requests
// whose responses were received before the call are all included; marker
// requests are left out.
func (s *Server) Requests(t testing.TB) []Request {
	t.Helper()
	s.syncs++
	marker := fmt.Sprintf("/.binarycache-sync-%d", s.syncs)
	resp, err := http.Get(s.URL + marker)
	if err != nil {
		t.Fatalf("binarycache: nginx marker request: %v", err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		reqs := s.readLog(t)
		var out []Request
		seen := false
		for _, r := range reqs {
			if strings.HasPrefix(r.URI, "/.binarycache-sync-") {
				seen = seen || r.URI == marker
				continue
			}
			out = append(out, r)
		}
		if seen {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("binarycache: nginx did not log %s within 5s", marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) readLog(t testing.TB) []Request {
	f, err := os.Open(s.logPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reqs, err := ParseAccessLog(f)
	if err != nil {
		t.Fatalf("binarycache: %v", err)
	}
	return reqs
}

// Traffic sums requests by kind.
type Traffic struct {
	NarinfoRequests, NARRequests, OtherRequests int
	NarinfoBytes, NARBytes, OtherBytes          int64 // body bytes sent
}

// Summarize sums reqs by Kind.
func Summarize(reqs []Request) Traffic {
	var tr Traffic
	for _, r := range reqs {
		switch r.Kind() {
		case "narinfo":
			tr.NarinfoRequests++
			tr.NarinfoBytes += r.BodyBytes
		case "nar":
			tr.NARRequests++
			tr.NARBytes += r.BodyBytes
		default:
			tr.OtherRequests++
			tr.OtherBytes += r.BodyBytes
		}
	}
	return tr
}

// String renders the traffic for test logs.
func (tr Traffic) String() string {
	return fmt.Sprintf("narinfo: %d requests, %d bytes; nar: %d requests, %d bytes; other: %d requests, %d bytes",
		tr.NarinfoRequests, tr.NarinfoBytes, tr.NARRequests, tr.NARBytes, tr.OtherRequests, tr.OtherBytes)
}
