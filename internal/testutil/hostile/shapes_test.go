package hostile

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestSchema1(t *testing.T) {
	s := Start(t, Options{})
	served := s.Serve(t, "shape/s1", "v1", Shape{Kind: Schema1})
	desc, err := remote.Get(mustRef(t, served.Ref))
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != types.DockerManifestSchema1Signed || desc.Digest.String() != served.Digest || !bytes.Equal(desc.Manifest, served.Manifest) {
		t.Fatalf("got %s %s, want the canned schema-1 manifest %s", desc.MediaType, desc.Digest, served.Digest)
	}
	if _, err := desc.Image(); !errors.Is(err, remote.ErrSchema1) {
		t.Fatalf("Image() err = %v, want ErrSchema1", err)
	}
	// The digest is that of the JWS payload (formatLength + formatTail).
	var jws struct {
		Signatures []struct{ Protected string }
	}
	if err := json.Unmarshal(served.Manifest, &jws); err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("signed manifest: %v %+v", err, jws)
	}
	prot, _ := base64.RawURLEncoding.DecodeString(jws.Signatures[0].Protected)
	var p struct {
		FormatLength int
		FormatTail   string
	}
	if err := json.Unmarshal(prot, &p); err != nil {
		t.Fatal(err)
	}
	tail, _ := base64.RawURLEncoding.DecodeString(p.FormatTail)
	payload := append(append([]byte(nil), served.Manifest[:p.FormatLength]...), tail...)
	if digestOf(payload) != served.Digest || !json.Valid(payload) || bytes.Contains(payload, []byte("signatures")) {
		t.Fatalf("payload %q does not give digest %s", payload, served.Digest)
	}
	// skopeo reads it too, byte for byte.
	if out := skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+served.Ref); out != string(served.Manifest) {
		t.Fatalf("skopeo inspect --raw:\n%s\nwant:\n%s", out, served.Manifest)
	}
}

func TestIndexWithoutAMD64(t *testing.T) {
	s := Start(t, Options{})
	served := s.Serve(t, "shape/idx", "v1", Shape{Kind: IndexWithoutAMD64})
	ref := mustRef(t, served.Ref)
	if _, err := remote.Image(ref); err == nil || !strings.Contains(err.Error(), "no child with platform linux/amd64") {
		t.Fatalf("remote.Image (linux/amd64) err = %v, want no matching child", err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Platform.Architecture != "s390x" || im.Manifests[0].Digest.String() != served.Children[0] {
		t.Fatalf("index manifest %+v, err %v; want one s390x child %v", im, err, served.Children)
	}
	img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "s390x"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkImage(img); err != nil {
		t.Fatalf("the s390x child is not a valid image: %v", err)
	}
	if out := skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+served.Ref); out != string(served.Manifest) {
		t.Fatalf("skopeo inspect --raw:\n%s\nwant:\n%s", out, served.Manifest)
	}
}

func TestEmptyIndex(t *testing.T) {
	s := Start(t, Options{})
	served := s.Serve(t, "shape/empty", "v1", Shape{Kind: EmptyIndex})
	ref := mustRef(t, served.Ref)
	if _, err := remote.Image(ref); err == nil {
		t.Fatal("remote.Image of an empty index succeeded")
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if im, err := idx.IndexManifest(); err != nil || len(im.Manifests) != 0 || im.MediaType != types.OCIImageIndex {
		t.Fatalf("index manifest %+v, err %v; want an empty OCI index", im, err)
	}
}

func TestConfigNotJSON(t *testing.T) {
	s := Start(t, Options{})
	served := s.Serve(t, "shape/notjson", "v1", Shape{Kind: ConfigNotJSON})
	img, err := remote.Image(mustRef(t, served.Ref))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawConfigFile()
	if err != nil || json.Valid(raw) || digestOf(raw) != served.ConfigDigest {
		t.Fatalf("raw config %q, err %v; want non-JSON bytes of digest %s", raw, err, served.ConfigDigest)
	}
	if _, err := img.ConfigFile(); err == nil {
		t.Fatal("ConfigFile parsed a non-JSON config")
	}
	if m, err := img.RawManifest(); err != nil || !bytes.Equal(m, served.Manifest) {
		t.Fatalf("manifest %s, err %v", m, err)
	}
}

// A small HugeConfig is a valid image: JSON config, one layer, matching diffID.
func TestHugeConfigIsValidJSON(t *testing.T) {
	const size = 300_001
	s := Start(t, Options{})
	served := s.Serve(t, "shape/huge", "small", Shape{Kind: HugeConfig, ConfigSize: size})
	img, err := remote.Image(mustRef(t, served.Ref))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawConfigFile()
	if err != nil || len(raw) != size || !json.Valid(raw) {
		t.Fatalf("config of %d bytes (valid JSON: %v), err %v; want %d", len(raw), json.Valid(raw), err, size)
	}
	if err := checkImage(img); err != nil {
		t.Fatalf("not a valid image: %v", err)
	}
}

// The huge config (default size) is streamed: serving and reading it
// allocates far less than its size.
func TestHugeConfigIsStreamed(t *testing.T) {
	const size = DefaultHugeConfigSize
	s := Start(t, Options{})
	served := s.Serve(t, "shape/huge", "big", Shape{Kind: HugeConfig})
	if served.ConfigSize != size {
		t.Fatalf("config size %d, want %d", served.ConfigSize, size)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := (&http.Client{Transport: tr}).Get(s.URL + "/v2/shape/huge/blobs/" + served.ConfigDigest)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != served.ConfigDigest {
		t.Fatalf("read %d bytes, err %v; want %d bytes of digest %s", n, err, size, served.ConfigDigest)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("serving a %d-byte config allocated %d bytes: it is not streamed", size, alloc)
	}
	if got := s.Settled(t).To(EndpointBlob); len(got) != 1 || got[0].BytesOut != size {
		t.Fatalf("requests:\n%s", s.Settled(t))
	}
}

// checkImage downloads every layer of img and checks its digest, size and
// diffID against the manifest and config (go-containerregistry's validate
// package would need another module).
func checkImage(img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if len(m.Layers) != len(cf.RootFS.DiffIDs) {
		return fmt.Errorf("%d layers, %d diffIDs", len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	for i, desc := range m.Layers {
		l, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return err
		}
		if err := readDigest(l.Compressed, desc.Digest.String(), desc.Size); err != nil {
			return fmt.Errorf("layer %d blob: %w", i, err)
		}
		if err := readDigest(l.Uncompressed, cf.RootFS.DiffIDs[i].String(), -1); err != nil {
			return fmt.Errorf("layer %d diffID: %w", i, err)
		}
	}
	return nil
}

// readDigest reads what open returns and checks its digest (and size, unless negative).
func readDigest(open func() (io.ReadCloser, error), digest string, size int64) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest || (size >= 0 && n != size) {
		return fmt.Errorf("read %d bytes of digest %s, want %d bytes of %s", n, got, size, digest)
	}
	return nil
}
