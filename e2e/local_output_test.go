package e2e

// Local outputs (oci:, docker-archive:) are built without a registry: no
// connection is made unless --cache-from asks for one. An OCI layout names
// the image by a tag that skopeo (oci:DIR:TAG) and umoci (DIR:TAG) address.

import (
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

// listener counts the TCP connections made to a loopback port; each is
// answered 401 (a registry refusing), so a client gives up at once.
func listener(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				c.Write([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	return l.Addr().String(), &n
}

func TestE2ELocalOutputsContactNoRegistry(t *testing.T) {
	testutil.Short(t)
	skopeo := testutil.RequireTool(t, "skopeo")
	umoci := testutil.RequireTool(t, "umoci")
	plan := quickstartPlan(t)
	host, conns := listener(t)
	dir := t.TempDir()
	build := func(args ...string) {
		t.Helper()
		if _, stderr, err := runCLI(t, nil, append([]string{"build", "--plan", plan}, args...)...); err != nil {
			t.Fatalf("build %v: %v\n%s", args, err, stderr)
		}
	}

	layout := filepath.Join(dir, "layout")
	build("--image", host+"/acme/app:v2", "--output", "oci:"+layout)
	build("--image", host+"/acme/app:v2", "--output", "docker-archive:"+filepath.Join(dir, "img.tar"))
	build("--output", "oci:"+filepath.Join(dir, "named")+":custom")
	if n := conns.Load(); n != 0 {
		t.Fatalf("local outputs made %d connections to the --image registry", n)
	}

	// The layout's image is named by --image's tag, or by oci:DIR:TAG.
	run(t, skopeo, "inspect", "oci:"+layout+":v2")
	bundle := filepath.Join(dir, "bundle")
	run(t, umoci, "unpack", "--image", layout+":v2", bundle)
	t.Cleanup(func() { makeTreeWritable(bundle) })
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/nix/store/vf1fqirafqhkai9p3r32j6x8x39qkkv7-app-1.0/bin/app")); err != nil {
		t.Errorf("umoci unpack of %s:v2: %v", layout, err)
	}
	run(t, skopeo, "inspect", "oci:"+filepath.Join(dir, "named")+":custom")

	// --cache-from asks for a registry: then it is contacted.
	build("--output", "oci:"+filepath.Join(dir, "cached"), "--cache-from", host+"/acme/app:v1")
	if conns.Load() == 0 {
		t.Error("--cache-from made no connection: the listener does not see the tool's requests")
	}
}
