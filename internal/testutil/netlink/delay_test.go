package netlink_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil/netlink"
)

// The proxy adds 2× the one-way delay to a round trip, passes bytes
// through intact, and turns the client's half-close into the server's EOF.
func TestDelayProxyAddsRTT(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const oneWay = 30 * time.Millisecond
	p := netlink.StartDelayProxy(ln, echo.Addr().String(), oneWay)
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1)
	for i := range 3 {
		start := time.Now()
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		rtt := time.Since(start)
		if rtt < 2*oneWay || rtt > 2*oneWay+150*time.Millisecond {
			t.Errorf("round trip %d: %v, want about %v", i, rtt, 2*oneWay)
		}
	}
	// 8 MB through and back, then half-close: all of it comes back.
	data := bytes.Repeat([]byte("0123456789abcdef"), 512<<10)
	go func() { c.Write(data); c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("echoed %d bytes, sent %d (or they differ)", len(got), len(data))
	}
}
