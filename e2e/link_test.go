package e2e

// Through a runner-like link (issue 20): the CLI runs in a network
// namespace of its own and reaches the real registry and the real nginx
// binary cache only through a veth pair shaped by tc tbf
// (internal/testutil/netlink). A build+push from the realised store and a
// fresh runner's build from NAR streams both give the image a build over
// loopback gives, digest for digest, and their bytes crossed the link.

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil/binarycache"
	"github.com/org/nix-layer-action/internal/testutil/netlink"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

func TestLinkPushAndFreshRunner(t *testing.T) {
	const rate = 20e6 // bytes/s each way: generous, the fixture is a few MB
	f := newFreshFixture(t, nil)
	l := netlink.New(t, netlink.Options{Down: rate, Up: rate})
	f.nginx = binarycache.ServeOn(t, f.cache.Dir, l.HostIP)
	reg := registry.Start(t, registry.Options{IP: l.HostIP})
	planFile := f.plan(t)

	// Over loopback, the image the link runs must reproduce.
	loop := registry.Start(t, registry.Options{})
	loopRep := filepath.Join(t.TempDir(), "loop.json")
	run(t, buildBinary(t), "build", "--plan", planFile, "--image", loop.Ref("loop/app:latest"), "--temp-dir", t.TempDir(), "--report", loopRep)
	want := readReport(t, loopRep)

	// Build+push from the realised host store, through the link.
	d0, u0 := sent(t, l)
	rep := filepath.Join(t.TempDir(), "link.json")
	start := time.Now()
	cmd := l.Cmd(buildBinary(t), "build", "--plan", planFile, "--image", reg.Ref("link/app:latest"), "--temp-dir", t.TempDir(), "--report", rep)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build+push in %s: %v\n%s", l.NS, err, out)
	}
	wall := time.Since(start)
	got := readReport(t, rep)
	if got.Digest != want.Digest {
		t.Errorf("through the link: digest %s, over loopback %s", got.Digest, want.Digest)
	}
	d1, u1 := sent(t, l)
	if up := u1 - u0; up < got.BytesPushed {
		t.Errorf("push: the link's upload qdisc sent %d bytes, the run pushed %d: the push did not cross the link", up, got.BytesPushed)
	}
	t.Logf("FIGURE link push: %d bytes pushed in %v through %.0f MB/s up (link sent %d up, %d down)", got.BytesPushed, wall.Round(time.Millisecond), rate/1e6, u1-u0, d1-d0)
	if digest := pullVerify(t, reg, "link/app:latest"); digest != want.Digest {
		t.Errorf("skopeo sees %s, want %s", digest, want.Digest)
	}

	// A fresh runner (empty store) in the namespace: metadata and NARs
	// from nginx through the link, the image to a new repository.
	store := binarycache.NewFreshStore(t)
	before := binarycache.Summarize(f.nginx.Requests(t))
	rep = filepath.Join(t.TempDir(), "fresh.json")
	start = time.Now()
	res := store.Run(t, f.nixConf(), l.Command(buildBinary(t), "build", "--plan", planFile, "--image", reg.Ref("link/fresh:latest"), "--temp-dir", t.TempDir(), "--report", rep)...)
	if res.Err != nil {
		t.Fatalf("fresh build in %s: %v\n%s", l.NS, res.Err, res.Stderr)
	}
	wall = time.Since(start)
	after := binarycache.Summarize(f.nginx.Requests(t))
	fresh := readReport(t, rep)
	if fresh.Digest != want.Digest {
		t.Errorf("fresh runner through the link: digest %s, over loopback %s", fresh.Digest, want.Digest)
	}
	narBytes := after.NARBytes - before.NARBytes
	if all := f.narFileBytes(t, f.closure); narBytes != all {
		t.Errorf("fresh runner fetched %d NAR bytes, the closure's NAR files are %d", narBytes, all)
	}
	d2, u2 := sent(t, l)
	if down := d2 - d1; down < narBytes {
		t.Errorf("fresh: the link's download qdisc sent %d bytes, nginx sent %d NAR bytes: the NARs did not cross the link", down, narBytes)
	}
	for _, p := range store.StorePaths(t) {
		for _, c := range f.closure {
			if p == c {
				t.Errorf("%s was realised into the fresh store", p)
			}
		}
	}
	t.Logf("FIGURE link fresh cold: %d NAR bytes down, %d bytes pushed, %v (link sent %d down, %d up)", narBytes, fresh.BytesPushed, wall.Round(time.Millisecond), d2-d1, u2-u1)
	if digest := pullVerify(t, reg, "link/fresh:latest"); digest != want.Digest {
		t.Errorf("skopeo sees %s, want %s", digest, want.Digest)
	}

	// With a 20 ms round trip: a delaying proxy on the link's host side in
	// front of the loopback registry.
	ln, err := l.Listen()
	if err != nil {
		t.Fatal(err)
	}
	px := netlink.StartDelayProxy(ln, loop.Host, 10*time.Millisecond)
	t.Cleanup(func() { px.Close() })
	rep = filepath.Join(t.TempDir(), "rtt.json")
	start = time.Now()
	cmd = l.Cmd(buildBinary(t), "build", "--plan", planFile, "--image", px.Addr+"/rtt/app:latest", "--temp-dir", t.TempDir(), "--report", rep)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build+push with 20 ms RTT: %v\n%s", err, out)
	}
	wall = time.Since(start)
	if rtt := readReport(t, rep); rtt.Digest != want.Digest {
		t.Errorf("with 20 ms RTT: digest %s, over loopback %s", rtt.Digest, want.Digest)
	}
	t.Logf("FIGURE link push with 20 ms RTT: %v", wall.Round(time.Millisecond))
	if digest := pullVerify(t, loop, "rtt/app:latest"); digest != want.Digest {
		t.Errorf("skopeo sees %s, want %s", digest, want.Digest)
	}
}

// sent reads the link's qdisc counters.
func sent(t *testing.T, l *netlink.Link) (down, up int64) {
	t.Helper()
	down, up, err := l.Sent()
	if err != nil {
		t.Fatal(err)
	}
	return down, up
}
