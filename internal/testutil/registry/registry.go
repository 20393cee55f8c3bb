// Package registry starts a real CNCF distribution registry
// (Debian's `docker-registry serve CONFIG.yml`) for integration tests.
//
// The registry listens on a free 127.0.0.1 port (go-containerregistry talks
// plain HTTP to loopback addresses automatically), stores blobs in
// t.TempDir(), has deletes enabled, optionally requires htpasswd basic auth,
// and is stopped when the test ends. Its log goes to a file whose tail is
// printed when the test fails.
package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/org/nix-layer-action/internal/testutil"
)

// Options configures Start.
type Options struct {
	// Htpasswd maps user → password. When non-empty the registry requires
	// basic auth (htpasswd, bcrypt) for every request.
	Htpasswd map[string]string
	// IP is the address to listen on; default 127.0.0.1. A test reaching
	// the registry through a shaped link (internal/testutil/netlink) sets
	// the link's host side address.
	IP string
}

// Registry is a running registry.
type Registry struct {
	Host    string // "127.0.0.1:PORT" (Options.IP:PORT)
	Dir     string // storage root directory
	LogFile string // registry log
	opts    Options
}

// Ref returns "HOST/repo".
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// URL returns "http://HOST".
func (r *Registry) URL() string { return "http://" + r.Host }

// Start launches the registry and waits until /v2/ answers. It is stopped
// at test cleanup.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	bin := testutil.RequireTool(t, "docker-registry")
	dir := t.TempDir()
	r := &Registry{Dir: filepath.Join(dir, "storage"), LogFile: filepath.Join(dir, "registry.log"), opts: opts}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("registry log tail (%s):\n%s", r.LogFile, tail(r.LogFile, 40))
		}
	})

	htpasswd := ""
	if len(opts.Htpasswd) > 0 {
		htpasswd = filepath.Join(dir, "htpasswd")
		if err := writeHtpasswd(htpasswd, opts.Htpasswd); err != nil {
			t.Fatal(err)
		}
	}

	// The free port may be taken between closing the probe listener and
	// the registry binding it; retry a few times with a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ip := opts.IP
		if ip == "" {
			ip = "127.0.0.1"
		}
		port, err := freePort(ip)
		if err != nil {
			t.Fatal(err)
		}
		r.Host = net.JoinHostPort(ip, strconv.Itoa(port))
		cfg := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfg, []byte(config(r.Dir, r.Host, htpasswd)), 0o644); err != nil {
			t.Fatal(err)
		}
		logf, err := os.OpenFile(r.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfg)
		cmd.Stdout = logf
		cmd.Stderr = logf
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("start docker-registry: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
		if err := waitReady(r.URL(), exited); err != nil {
			lastErr = err
			stop(cmd, exited)
			continue
		}
		t.Cleanup(func() { stop(cmd, exited) })
		return r
	}
	t.Fatalf("docker-registry did not start: %v\nlog:\n%s", lastErr, tail(r.LogFile, 40))
	return nil
}

// DockerConfigDir writes a Docker config.json with credentials for user
// (which must be in Options.Htpasswd) into a new temp dir and returns the
// directory, for use as DOCKER_CONFIG.
func (r *Registry) DockerConfigDir(t testing.TB, user string) string {
	t.Helper()
	pw, ok := r.opts.Htpasswd[user]
	if !ok {
		t.Fatalf("user %q not in registry htpasswd", user)
	}
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{
		r.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func config(storage, addr, htpasswd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: nix-layer-action-test-secret
`, storage, addr)
	if htpasswd != "" {
		fmt.Fprintf(&b, `auth:
  htpasswd:
    realm: test-realm
    path: %q
`, htpasswd)
	}
	return b.String()
}

func writeHtpasswd(path string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, u := range names {
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("bcrypt for %q: %w", u, err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /v2/ until it answers 200 or 401 (auth enabled), the
// process exits, or a generous deadline passes.
func waitReady(url string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	delay := 20 * time.Millisecond
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v2/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("registry exited early")
		case <-ctx.Done():
			return errors.New("timed out waiting for /v2/")
		case <-time.After(delay):
		}
		if delay < 500*time.Millisecond {
			delay *= 2
		}
	}
}

func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
