package netlink_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil/netlink"
)

// The helper process: run inside the namespace by TestLinkShapesBothWays,
// it downloads or uploads NETLINK_HELPER_BYTES through the link and prints
// {"bytes":N,"seconds":S} as measured by the client.
func TestMain(m *testing.M) {
	if mode := os.Getenv("NETLINK_HELPER"); mode != "" {
		os.Exit(helper(mode, os.Getenv("NETLINK_HELPER_URL"), os.Getenv("NETLINK_HELPER_BYTES")))
	}
	os.Exit(m.Run())
}

func helper(mode, url, size string) int {
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := time.Now()
	var got int64
	switch mode {
	case "down":
		resp, err := http.Get(url + "/down?n=" + size)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		got, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "up":
		resp, err := http.Post(url+"/up", "application/octet-stream", io.LimitReader(zeros{}, n))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got, _ = strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"bytes": got, "seconds": time.Since(start).Seconds()})
	return 0
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// The harness check: bytes pushed through the link in each direction move
// at about the configured rate (0.5×–1.2×), where the bare veth moves
// them at memory speed. Not a performance claim about the tool.
func TestLinkShapesBothWays(t *testing.T) {
	const down, up = 20e6, 8e6
	l := netlink.New(t, netlink.Options{Down: down, Up: up})
	ln, err := l.Listen()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(zeros{}, n))
	})
	mux.HandleFunc("/up", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintln(w, n)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String()

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode string
		rate float64
	}{{"down", down}, {"up", up}} {
		n := int64(c.rate * 1.5) // 1.5 s at the rate
		cmd := l.Cmd(self)
		cmd.Env = append(os.Environ(), "NETLINK_HELPER="+c.mode, "NETLINK_HELPER_URL="+url, "NETLINK_HELPER_BYTES="+strconv.FormatInt(n, 10))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s helper in %s: %v\n%s", c.mode, l.NS, err, stderrOf(err))
		}
		var res struct {
			Bytes   int64
			Seconds float64
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%s helper output %q: %v", c.mode, out, err)
		}
		if res.Bytes != n {
			t.Fatalf("%s: moved %d bytes, want %d", c.mode, res.Bytes, n)
		}
		got := float64(res.Bytes) / res.Seconds
		t.Logf("%s: %d bytes in %.2f s = %.1f MB/s through a %.0f MB/s link (%.2f×)", c.mode, res.Bytes, res.Seconds, got/1e6, c.rate/1e6, got/c.rate)
		if got < 0.5*c.rate || got > 1.2*c.rate {
			t.Errorf("%s: %.1f MB/s through a link shaped to %.0f MB/s: want 0.5×–1.2×\n%s", c.mode, got/1e6, c.rate/1e6, l.QdiscStats())
		}
	}
	// The qdiscs counted the bytes (with headers): Sent is what e2e tests
	// use to prove their traffic crossed the link.
	d, u, err := l.Sent()
	if err != nil {
		t.Fatal(err)
	}
	if d < int64(down*1.5) || d > int64(down*1.5*1.2) || u < int64(up*1.5) || u > int64(up*1.5*1.2) {
		t.Errorf("qdiscs sent %d bytes down, %d up; want about %.0f and %.0f\n%s", d, u, down*1.5, up*1.5, l.QdiscStats())
	}
}

// The namespace reaches the host side address and nothing else: no
// default route, so another address is unreachable from inside.
func TestLinkReachesOnlyTheHostSide(t *testing.T) {
	l := netlink.New(t, netlink.Options{})
	out, err := l.Cmd("ip", "route", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	routes := strings.TrimSpace(string(out))
	if strings.Contains(routes, "default") || strings.Count(routes, "\n") != 0 || !strings.Contains(routes, l.NSDev) {
		t.Errorf("routes in %s:\n%s\nwant only the /30 on %s", l.NS, routes, l.NSDev)
	}
	ln, err := l.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

// TBF's numbers: rate in bits, a 10 ms bucket of at least 64 KiB.
func TestTBF(t *testing.T) {
	got := strings.Join(netlink.TBF(40e6), " ")
	if want := "root tbf rate 320000000bit burst 400000 latency 100ms"; got != want {
		t.Errorf("TBF(40 MB/s) = %q, want %q", got, want)
	}
	if got := netlink.TBF(1e6)[5]; got != "65536" {
		t.Errorf("TBF(1 MB/s) burst %s, want 65536", got)
	}
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// Shape replaces a direction's rate and removes it at 0.
func TestLinkShape(t *testing.T) {
	l := netlink.New(t, netlink.Options{Up: 40e6})
	if s := l.QdiscStats(); !strings.Contains(s, "rate 320Mbit") {
		t.Fatalf("after New(Up: 40 MB/s):\n%s", s)
	}
	if err := l.Shape(netlink.Options{Up: 10e6, Down: 100e6}); err != nil {
		t.Fatal(err)
	}
	down, up, _ := strings.Cut(l.QdiscStats(), "\nup")
	if !strings.Contains(up, "rate 80Mbit") || !strings.Contains(down, "rate 800Mbit") {
		t.Errorf("after Shape(Up: 10, Down: 100 MB/s):\n%s", l.QdiscStats())
	}
	if err := l.Shape(netlink.Options{}); err != nil {
		t.Fatal(err)
	}
	if s := l.QdiscStats(); strings.Contains(s, "tbf") {
		t.Errorf("after Shape({}), tbf left:\n%s", s)
	}
}
