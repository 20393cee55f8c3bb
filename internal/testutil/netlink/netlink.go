// Package netlink gives tests and the benchmark a runner-like network
// link: a network namespace of their own, joined to the host by a veth
// pair on a private /30 (10.213.0.0/16, used only on that veth), with each
// direction rate-limited by a tc token bucket filter (tbf; this kernel has
// no netem).
//
// The servers (registry, nginx) listen on the host side's address
// (Link.HostIP); the client (nix-layer-action) runs inside the namespace
// through Link.Command, so everything it sends to those servers crosses
// the shaped veth: the host side's egress is the runner's download, the
// namespace side's egress its upload. The namespace has no other route,
// so nothing run in it reaches any other address. Host processes talking
// to HostIP stay on the host's loopback path, unshaped.
//
// Creating a link needs root and iproute2 (ip, tc). New skips a test
// without them, and fails it under CI=true; Create returns an error.
package netlink

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

// Options shapes a link. Rates are in bytes per second; 0 leaves that
// direction unshaped.
type Options struct {
	Down int64 // host → namespace: what the runner downloads
	Up   int64 // namespace → host: what the runner uploads
}

// Link is a network namespace joined to the host by a shaped veth pair.
type Link struct {
	NS      string // network namespace name (ip netns)
	HostDev string // host side of the veth pair
	NSDev   string // namespace side
	HostIP  string // host side address: servers listen here
	NSIP    string // namespace side address: the client's source address
	Opts    Options
	ip, tc  string
}

// subnets is how many /30s 10.213.0.0/16 holds.
const subnets = 1 << 14

// ErrNoTools is returned by Create without root or iproute2.
var ErrNoTools = errors.New("netlink: needs root and iproute2 (ip, tc)")

// New creates a shaped link and deletes it at cleanup. It skips the test
// without root or iproute2 (fails under CI=true).
func New(t testing.TB, opts Options) *Link {
	t.Helper()
	testutil.RequireTool(t, "ip")
	testutil.RequireTool(t, "tc")
	if os.Geteuid() != 0 {
		if testutil.InCI() {
			t.Fatal("netlink: a network namespace needs root under CI=true")
		}
		t.Skip("netlink: a network namespace needs root")
	}
	l, err := Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlink: %v", err)
		}
	})
	return l
}

// Create makes the namespace and the veth pair, addresses and shapes them.
// The /30 is claimed by creating the namespace "nla-link-N" (atomic: ip
// netns add fails when the name exists), starting from a random N, and is
// used only when no host interface already has an address in it. Close
// undoes it.
func Create(opts Options) (*Link, error) {
	ipBin, err1 := exec.LookPath("ip")
	tcBin, err2 := exec.LookPath("tc")
	if err1 != nil || err2 != nil || os.Geteuid() != 0 {
		return nil, ErrNoTools
	}
	start := rand.IntN(subnets)
	for i := 0; i < 64; i++ {
		n := (start + i) % subnets
		l := &Link{
			NS:      fmt.Sprintf("nla-link-%d", n),
			HostDev: fmt.Sprintf("nlah%d", n),
			NSDev:   fmt.Sprintf("nlan%d", n),
			HostIP:  fmt.Sprintf("10.213.%d.%d", n/64, (n%64)*4+1),
			NSIP:    fmt.Sprintf("10.213.%d.%d", n/64, (n%64)*4+2),
			Opts:    opts,
			ip:      ipBin,
			tc:      tcBin,
		}
		if inUse(l.HostIP) || inUse(l.NSIP) {
			continue
		}
		if _, err := l.run(l.ip, "netns", "add", l.NS); err != nil {
			continue // taken by another test: try the next /30
		}
		if err := l.setup(); err != nil {
			_ = l.Close()
			return nil, err
		}
		return l, nil
	}
	return nil, errors.New("netlink: no free /30 in 10.213.0.0/16 after 64 tries")
}

// inUse reports whether a host interface has addr.
func inUse(addr string) bool {
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range ifs {
		if n, ok := a.(*net.IPNet); ok && n.Contains(net.ParseIP(addr)) {
			return true
		}
	}
	return false
}

// setup creates, addresses, raises and shapes the veth pair.
func (l *Link) setup() error {
	steps := [][]string{
		{l.ip, "link", "add", l.HostDev, "type", "veth", "peer", "name", l.NSDev},
		{l.ip, "link", "set", l.NSDev, "netns", l.NS},
		{l.ip, "addr", "add", l.HostIP + "/30", "dev", l.HostDev},
		{l.ip, "link", "set", l.HostDev, "up"},
		{l.ip, "-n", l.NS, "addr", "add", l.NSIP + "/30", "dev", l.NSDev},
		{l.ip, "-n", l.NS, "link", "set", l.NSDev, "up"},
		{l.ip, "-n", l.NS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := l.run(s...); err != nil {
			return err
		}
	}
	return l.Shape(l.Opts)
}

// Shape (re)sets both directions' rates (tc qdisc replace; a rate of 0
// removes that direction's qdisc), e.g. to measure one link at several
// rates.
func (l *Link) Shape(opts Options) error {
	down := []string{l.tc, "qdisc"}
	up := []string{l.tc, "-n", l.NS, "qdisc"}
	for _, d := range []struct {
		rate int64
		tc   []string
		dev  string
	}{{opts.Down, down, l.HostDev}, {opts.Up, up, l.NSDev}} {
		if d.rate <= 0 {
			_, _ = l.run(append(d.tc, "del", "dev", d.dev, "root")...) // none is fine
			continue
		}
		if _, err := l.run(append(append(d.tc, "replace", "dev", d.dev), TBF(d.rate)...)...); err != nil {
			return err
		}
	}
	l.Opts = opts
	return nil
}

// TBF is the tc qdisc spec shaping one direction to rate bytes/s: "root
// tbf rate R burst B latency 100ms". The bucket holds 10 ms at the rate
// (at least 64 KiB, so one GSO segment always fits) and the queue 100 ms
// of data: a TCP sender sees a link of that rate with a modest buffer,
// like a runner's NIC behind a cloud rate limiter.
func TBF(rate int64) []string {
	burst := rate / 100
	if burst < 64<<10 {
		burst = 64 << 10
	}
	return []string{"root", "tbf", "rate", strconv.FormatInt(rate*8, 10) + "bit",
		"burst", strconv.FormatInt(burst, 10), "latency", "100ms"}
}

// Close deletes the namespace; its veth end goes with it, and with that
// the host's end.
func (l *Link) Close() error {
	_, err := l.run(l.ip, "netns", "del", l.NS)
	// The host end disappears with its peer; remove it if a failed setup
	// left it on the host side.
	if _, e := net.InterfaceByName(l.HostDev); e == nil {
		_, _ = l.run(l.ip, "link", "del", l.HostDev)
	}
	return err
}

// Command returns argv run inside the namespace: ip netns exec NS argv...
func (l *Link) Command(argv ...string) []string {
	return append([]string{l.ip, "netns", "exec", l.NS}, argv...)
}

// Cmd is exec.Command of Command(name, args...).
func (l *Link) Cmd(name string, args ...string) *exec.Cmd {
	argv := l.Command(append([]string{name}, args...)...)
	return exec.Command(argv[0], argv[1:]...)
}

// HostAddr returns "HostIP:port".
func (l *Link) HostAddr(port int) string { return net.JoinHostPort(l.HostIP, strconv.Itoa(port)) }

// Listen opens a TCP listener on the host side address (port 0: any).
func (l *Link) Listen() (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(l.HostIP, "0"))
}

// QdiscStats returns tc's statistics of both directions' qdiscs, for logs.
func (l *Link) QdiscStats() string {
	down, _ := l.run(l.tc, "-s", "qdisc", "show", "dev", l.HostDev)
	up, _ := l.run(l.tc, "-n", l.NS, "-s", "qdisc", "show", "dev", l.NSDev)
	return "down (" + l.HostDev + "): " + strings.TrimSpace(down) + "\nup (" + l.NSDev + "): " + strings.TrimSpace(up)
}

// Sent returns the bytes each direction's qdisc has sent so far (tc -s):
// proof that traffic crossed the shaped link. A direction without a
// qdisc reports 0.
func (l *Link) Sent() (down, up int64, err error) {
	d, err := l.run(l.tc, "-s", "qdisc", "show", "dev", l.HostDev)
	if err != nil {
		return 0, 0, err
	}
	u, err := l.run(l.tc, "-n", l.NS, "-s", "qdisc", "show", "dev", l.NSDev)
	if err != nil {
		return 0, 0, err
	}
	return sentBytes(d), sentBytes(u), nil
}

var sentRe = regexp.MustCompile(`qdisc tbf [^\n]*\n\s*Sent (\d+) bytes`)

// sentBytes reads the tbf qdisc's "Sent N bytes" from tc -s output.
func sentBytes(out string) int64 {
	m := sentRe.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func (l *Link) run(argv ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("netlink: %s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
