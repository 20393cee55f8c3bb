package publish

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/secrets"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// pushTwice checks the first push uploads everything and the second nothing.
func pushTwice(t *testing.T, host string) {
	img := assemble(t, named(t, 1, 2, 3))
	r := ref(t, host+"/team/app:latest")
	res, err := push(t, img, r, []string{"v1", "stable"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if res.Digest != want || !res.Changed {
		t.Fatalf("first push: digest %s changed %v; want %s, true", res.Digest, res.Changed, want)
	}
	wantAll(t, res, img, regclient.BlobPushed)
	if total := sumSizes(t, img); res.BytesPushed != total {
		t.Errorf("BytesPushed = %d, want %d (layers + config)", res.BytesPushed, total)
	}
	for _, tag := range []string{"latest", "v1", "stable"} {
		if got := headDigest(t, ref(t, host+"/team/app:"+tag)); got != want {
			t.Errorf("tag %s → %s, want %s", tag, got, want)
		}
	}

	res, err = push(t, img, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || res.BytesPushed != 0 {
		t.Errorf("second push: changed %v, %d bytes; want false, 0", res.Changed, res.BytesPushed)
	}
	wantAll(t, res, img, regclient.BlobExists)

	// Same layers, new config under a new tag: layers HEAD-checked as existing, config pushed.
	img2, err := image.Assemble(nil, named(t, 1, 2, 3), image.ConfigOptions{Platform: v1.Platform{Architecture: "amd64"}, Cmd: []string{"/bin/false"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err = push(t, img2, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := img2.Manifest()
	if !res.Changed || res.BytesPushed != m2.Config.Size || res.Status[m2.Config.Digest] != regclient.BlobPushed {
		t.Errorf("config-only change: %+v, want changed, %d bytes, config pushed", res, m2.Config.Size)
	}
	for _, l := range m2.Layers {
		if res.Status[l.Digest] != regclient.BlobExists {
			t.Errorf("layer %s: %q, want exists", l.Digest, res.Status[l.Digest])
		}
	}
}

func TestRegistryPushInMemory(t *testing.T) {
	pushTwice(t, memregistry.Start(t).Host)
}

func TestRegistryPushRealRegistry(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	pushTwice(t, reg.Host)
}

// mountTest pushes an image, then an image reusing its layers (read back
// with LoadPrevious) plus a new one to a second repository.
func mountTest(t *testing.T, host string, reused regclient.BlobStatus) {
	ctx := context.Background()
	src := ref(t, host+"/one/app:latest")
	first := assemble(t, named(t, 1, 2, 3))
	if _, err := push(t, first, src, nil); err != nil {
		t.Fatal(err)
	}
	prev, err := image.LoadPrevious(ctx, client(t), src, v1.Platform{})
	if err != nil || prev == nil {
		t.Fatalf("LoadPrevious: %v, %v", prev, err)
	}
	var layers []image.Named
	for _, key := range []string{fmt.Sprintf("sha256:%064x", 1), fmt.Sprintf("sha256:%064x", 2)} {
		pl, ok := prev.ByKey(key)
		if !ok {
			t.Fatalf("key %s not in previous image", key)
		}
		layers = append(layers, image.Named{Layer: pl.Layer, Meta: pl.Meta})
	}
	fresh := named(t, 9)
	layers = append(layers, fresh...)
	img := assemble(t, layers)

	res, err := push(t, img, ref(t, host+"/two/app:latest"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	for i, want := range []regclient.BlobStatus{reused, reused, regclient.BlobPushed} {
		if got := res.Status[m.Layers[i].Digest]; got != want {
			t.Errorf("layer %d: %q, want %q", i, got, want)
		}
	}
	if res.Status[m.Config.Digest] != regclient.BlobPushed {
		t.Errorf("config: %q, want pushed", res.Status[m.Config.Digest])
	}
	wantBytes := m.Layers[2].Size + m.Config.Size
	if res.BytesPushed != wantBytes {
		t.Errorf("BytesPushed = %d, want %d", res.BytesPushed, wantBytes)
	}
	// The pushed image is complete: every layer readable from repo two.
	got, err := remote.Image(ref(t, host+"/two/app:latest"))
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := got.Layers()
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read layer from second repo: %v", err)
		}
	}
}

func TestRegistryMountRealRegistry(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	mountTest(t, reg.Host, regclient.BlobMounted)
}

func TestRegistryReuseInMemory(t *testing.T) {
	// The in-memory registry keeps one blob store for all repositories
	// (and implements no mounts): the HEAD check in the second repository
	// already finds the reused layers.
	mountTest(t, memregistry.Start(t).Host, regclient.BlobExists)
}

func TestRegistryRetriesTransientErrors(t *testing.T) {
	host := memregistry.Start(t).Host
	ft := &failingTransport{next: remote.DefaultTransport}
	ft.n.Store(2)
	img := assemble(t, named(t, 4))
	res, err := push(t, img, ref(t, host+"/r/x:t"), nil,
		regclient.WithTransport(ft), regclient.WithRetry(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 5}))
	if err != nil {
		t.Fatalf("push with two 503s: %v", err)
	}
	if ft.n.Load() >= 0 {
		t.Fatalf("failures not consumed: %d left", ft.n.Load())
	}
	wantAll(t, res, img, regclient.BlobPushed)

	// Persistent failure: an error, not a hang.
	ft.n.Store(1000)
	_, err = push(t, assemble(t, named(t, 5)), ref(t, host+"/r/y:t"), nil,
		regclient.WithTransport(ft), regclient.WithRetry(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2}))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("persistent 503: err = %v", err)
	}
}

func TestRegistryAuthFromDockerConfig(t *testing.T) {
	testutil.Short(t)
	const pw = "correct-horse-battery"
	reg := registry.Start(t, registry.Options{Htpasswd: map[string]string{"alice": pw, "bob": "bobs-password"}})
	img := assemble(t, named(t, 1))
	r := ref(t, reg.Ref("priv/app:latest"))

	// No credentials: rejected.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, err := push(t, img, r, nil, regclient.WithKeychain(regclient.Keychain(""))); err == nil {
		t.Fatal("anonymous push to an htpasswd registry succeeded")
	}

	t.Setenv("DOCKER_CONFIG", reg.DockerConfigDir(t, "alice"))
	res, err := push(t, img, r, nil, regclient.WithKeychain(regclient.Keychain("gh-token-unused")))
	if err != nil {
		t.Fatalf("push with docker config credentials: %v", err)
	}
	wantAll(t, res, img, regclient.BlobPushed)

	// Wrong password in the config: an error that does not reveal it.
	dir := t.TempDir()
	bad := base64.StdEncoding.EncodeToString([]byte("alice:wrong-password-123"))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, bad)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	_, err = push(t, img, ref(t, reg.Ref("priv/other:latest")), nil, regclient.WithKeychain(regclient.Keychain("")))
	if err == nil {
		t.Fatal("push with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-password-123") || strings.Contains(err.Error(), bad) {
		t.Fatalf("error reveals the password: %v", err)
	}
}

// A registry that echoes the Authorization header (and a configured
// secret) in its error bodies must not get them into our error text.
func TestRegistryRedactsEchoedSecrets(t *testing.T) {
	const user, pass, extra = "robot", "hunter2-very-secret", "side-channel-token-42"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="hostile"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodHead:
			w.WriteHeader(http.StatusNotFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			msg := fmt.Sprintf("you sent %q; decoded %s:%s; also %s", auth, user, pass, extra)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": msg}}})
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	kc := staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})}
	_, err := push(t, assemble(t, named(t, 1)), ref(t, host+"/x/y:z"), nil, regclient.WithKeychain(kc), regclient.WithSecrets(secrets.New(extra)))
	if err == nil {
		t.Fatal("push to hostile registry succeeded")
	}
	msg := err.Error()
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	for _, s := range []string{pass, basic, extra} {
		if strings.Contains(msg, s) {
			t.Fatalf("error text contains secret %q:\n%s", s, msg)
		}
	}
	if !strings.Contains(msg, "***") || !strings.Contains(msg, "DENIED") {
		t.Fatalf("expected a redacted registry error, got: %s", msg)
	}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// skopeo copies the pushed image out of the real registry and every blob
// of the copy re-hashes to its digest.
func TestSkopeoCopyFromRealRegistry(t *testing.T) {
	testutil.Short(t)
	skopeo := testutil.RequireTool(t, "skopeo")
	reg := registry.Start(t, registry.Options{})
	img := assemble(t, named(t, 1, 2, 3))
	if _, err := push(t, img, ref(t, reg.Ref("sk/app:v1")), nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	run(t, skopeo, "--insecure-policy", "copy", "--src-tls-verify=false", "docker://"+reg.Ref("sk/app:v1"), "oci:"+dir+":v1")
	verifyLayoutBlobs(t, dir, img)

	out := run(t, skopeo, "inspect", "--tls-verify=false", "docker://"+reg.Ref("sk/app:v1"))
	var insp struct {
		Digest string
		Layers []string
	}
	if err := json.Unmarshal([]byte(out), &insp); err != nil {
		t.Fatalf("skopeo inspect output: %v\n%s", err, out)
	}
	want, _ := img.Digest()
	if insp.Digest != want.String() || len(insp.Layers) != 3 {
		t.Fatalf("skopeo inspect: digest %s layers %d; want %s, 3", insp.Digest, len(insp.Layers), want)
	}
}

// verifyLayoutBlobs re-hashes every blob in an OCI layout and checks all
// of img's blobs are there.
func verifyLayoutBlobs(t *testing.T, dir string, img v1.Image) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(blobs, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("blob %s re-hashes to %x", e.Name(), sum)
		}
		have[e.Name()] = true
	}
	for h := range blobSizes(t, img) {
		if !have[h.Hex] {
			t.Errorf("blob %s missing from layout", h)
		}
	}
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// racer pushes another image to the tag right after our manifest PUT, as a
// concurrent run would.
type racer struct {
	next  http.RoundTripper
	other v1.Image
	ref   name.Reference
	done  bool
}

func (r *racer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") && !r.done {
		r.done = true
		if werr := remote.Write(r.ref, r.other); werr != nil {
			return nil, werr
		}
	}
	return resp, err
}

func TestRegistryReportsSupersededTag(t *testing.T) {
	host := memregistry.Start(t).Host
	r := ref(t, host+"/race/app:latest")
	other := assemble(t, named(t, 7))
	rc := &racer{next: http.DefaultTransport, other: other, ref: r}
	res, err := push(t, assemble(t, named(t, 1, 2)), r, nil, regclient.WithTransport(rc))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := other.Digest()
	if res.SupersededBy != want.String() {
		t.Errorf("SupersededBy = %q, want the racing image %s", res.SupersededBy, want)
	}
	// Alone, a push is not superseded.
	res, err = push(t, assemble(t, named(t, 3)), ref(t, host+"/race/solo:latest"), nil)
	if err != nil || res.SupersededBy != "" {
		t.Errorf("solo push: %+v, %v", res, err)
	}
}

// TestRegistryByDigest pushes by digest: the manifest is there at its
// digest, the tag named is neither created nor moved, and a second push of
// the same image writes nothing.
func TestRegistryByDigest(t *testing.T) {
	host := memregistry.Start(t).Host
	tagged := ref(t, host+"/bd/app:latest")
	old := assemble(t, named(t, 9))
	if _, err := push(t, old, tagged, nil); err != nil {
		t.Fatal(err)
	}
	oldDigest, _ := old.Digest()
	img := assemble(t, named(t, 1, 2))
	p := NewRegistryByDigest(client(t), tagged)
	if got := p.Destination(); got != "registry "+host+"/bd/app (by digest)" {
		t.Errorf("Destination() = %q", got)
	}
	res, err := p.Publish(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if res.Digest != want || !res.Changed || res.SupersededBy != "" {
		t.Errorf("result %+v, want digest %s, changed", res, want)
	}
	if got := headDigest(t, ref(t, host+"/bd/app@"+want.String())); got != want {
		t.Errorf("by digest: %s", got)
	}
	if got := headDigest(t, tagged); got != oldDigest {
		t.Errorf("the tag moved to %s; by-digest pushes must leave it at %s", got, oldDigest)
	}
	// Told what the tag holds (the previous image), a by-digest push still
	// compares with the digest itself, not with the tag.
	p2 := NewRegistryByDigest(client(t), tagged)
	m, _ := old.Manifest()
	p2.Current(oldDigest, m)
	res, err = p2.Publish(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || res.BytesPushed != 0 {
		t.Errorf("second by-digest push: changed=%v, %d bytes; want nothing written", res.Changed, res.BytesPushed)
	}
}
