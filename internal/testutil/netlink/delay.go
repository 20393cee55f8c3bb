package netlink

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// DelayProxy is a TCP proxy that delays every byte by a fixed one-way
// time in each direction, adding 2× that to the round trip without
// limiting throughput (reads go on while earlier chunks wait; at most
// delayQueue chunks are in flight per direction). Put it on the link's
// host side in front of a server on loopback to model a runner's RTT to
// a remote registry, which tbf alone does not.
type DelayProxy struct {
	Addr   string // where clients connect: "HostIP:PORT"
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

const (
	delayChunk = 32 << 10
	delayQueue = 256
)

// StartDelayProxy listens on ln and forwards each connection to target,
// delaying both directions by oneWay.
func StartDelayProxy(ln net.Listener, target string, oneWay time.Duration) *DelayProxy {
	p := &DelayProxy{Addr: ln.Addr().String(), ln: ln, target: target, delay: oneWay, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p
}

func (p *DelayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.pump(up, c) }()
		go func() { defer p.wg.Done(); p.pump(c, up) }()
	}
}

// track remembers a connection pair for Close; false once closed.
func (p *DelayProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

type delayed struct {
	data []byte
	due  time.Time
}

// pump copies src to dst, each chunk written oneWay after it was read;
// src's EOF becomes dst's write half-close.
func (p *DelayProxy) pump(dst, src net.Conn) {
	q := make(chan delayed, delayQueue)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, delayChunk)
			n, err := src.Read(buf)
			if n > 0 {
				q <- delayed{buf[:n], time.Now().Add(p.delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for d := range q {
		time.Sleep(time.Until(d.due))
		if _, err := dst.Write(d.data); err != nil {
			src.Close()
			for range q {
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
}

// Close stops accepting, closes every connection and waits for the pumps.
func (p *DelayProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

var _ io.Closer = (*DelayProxy)(nil)
