package hostile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// Media types the canned shapes use.
const (
	MediaTypeSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeOCIManifest   = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex      = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIConfig     = "application/vnd.oci.image.config.v1+json"
	MediaTypeOCILayer      = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeOCILayerZstd  = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeDockerLayer   = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// ShapeKind is a kind of canned content Server.Serve can put at a tag.
type ShapeKind string

// Shape kinds.
const (
	// Schema1 is a signed schema-1 manifest (prettyjws) with one layer. Its
	// signature is well-formed JWS but not verifiable; its digest is that of
	// the payload without signatures, as registries compute it.
	Schema1 ShapeKind = "schema1"
	// IndexWithoutAMD64 is an OCI index whose only child is linux/s390x.
	IndexWithoutAMD64 ShapeKind = "index-without-amd64"
	// EmptyIndex is an OCI index with no manifests.
	EmptyIndex ShapeKind = "empty-index"
	// ConfigNotJSON is an OCI image (one layer) whose config blob is not JSON.
	ConfigNotJSON ShapeKind = "config-not-json"
	// HugeConfig is an OCI image (one layer) whose config blob is valid JSON
	// of Shape.ConfigSize bytes, generated while it is sent.
	HugeConfig ShapeKind = "huge-config"
)

// DefaultHugeConfigSize is HugeConfig's size when Shape.ConfigSize is 0.
const DefaultHugeConfigSize = 200 << 20

// Shape is canned content for Server.Serve.
type Shape struct {
	Kind ShapeKind
	// ConfigSize is the HugeConfig config blob size (0 = DefaultHugeConfigSize).
	ConfigSize int64
}

// Served describes what Server.Serve put at a tag.
type Served struct {
	Ref          string // "HOST/repo:tag" on the primary listener
	Digest       string // manifest (or index) digest
	MediaType    string // manifest (or index) media type
	Manifest     []byte // manifest (or index) bytes as served
	ConfigDigest string // config blob digest ("" for indexes and schema 1)
	ConfigSize   int64
	// Children are the digests of the index's child manifests.
	Children []string
}

// object is one canned response body.
type object struct {
	mediaType string
	digest    string
	size      int64
	write     func(io.Writer) error
}

func bytesObject(mediaType string, b []byte) *object {
	return &object{mediaType: mediaType, digest: digestOf(b), size: int64(len(b)),
		write: func(w io.Writer) error { _, err := w.Write(b); return err }}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Serve puts a canned shape at repo:tag. It shadows the backend for GET and
// HEAD of that tag and of the manifests and blobs it names.
func (s *Server) Serve(t testing.TB, repo, tag string, sh Shape) Served {
	t.Helper()
	c := &cannedSet{repo: repo}
	var out Served
	var err error
	switch sh.Kind {
	case Schema1:
		out, err = c.schema1(tag)
	case IndexWithoutAMD64:
		out, err = c.index(true)
	case EmptyIndex:
		out, err = c.index(false)
	case ConfigNotJSON:
		out, err = c.image(fixedConfig(bytesObject(MediaTypeOCIConfig, []byte("this is not JSON {\x00\xff"))))
	case HugeConfig:
		out, err = c.image(hugeConfig(sh.ConfigSize))
	default:
		err = fmt.Errorf("unknown shape %q", sh.Kind)
	}
	if err != nil {
		t.Fatalf("hostile: serve %s at %s:%s: %v", sh.Kind, repo, tag, err)
	}
	c.put("manifests/"+tag, c.objs["manifests/"+out.Digest])
	out.Ref = s.Ref(repo) + ":" + tag
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, o := range c.objs {
		s.canned["/v2/"+repo+"/"+k] = o
	}
	return out
}

// serveCanned answers GET and HEAD of canned paths.
func (s *Server) serveCanned(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	s.mu.Lock()
	o := s.canned[r.URL.Path]
	s.mu.Unlock()
	if o == nil {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", o.mediaType)
	h.Set("Docker-Content-Digest", o.digest)
	h.Set("Content-Length", strconv.FormatInt(o.size, 10))
	h.Set("Docker-Distribution-Api-Version", "registry/2.0")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_ = o.write(w)
	}
	return true
}

// cannedSet collects the objects of one shape, keyed by path below /v2/<repo>/.
type cannedSet struct {
	repo string
	objs map[string]*object
}

func (c *cannedSet) put(key string, o *object) {
	if c.objs == nil {
		c.objs = map[string]*object{}
	}
	c.objs[key] = o
}

func (c *cannedSet) blob(o *object) *object {
	c.put("blobs/"+o.digest, o)
	return o
}

func (c *cannedSet) manifest(o *object) *object {
	c.put("manifests/"+o.digest, o)
	return o
}

// configFunc makes an image's config object given its one layer's diffID.
type configFunc func(diffID string) (*object, error)

// fixedConfig is a configFunc that ignores the diffID.
func fixedConfig(o *object) configFunc {
	return func(string) (*object, error) { return o, nil }
}

// image cans a one-layer OCI image with the config mk makes.
func (c *cannedSet) image(mk configFunc) (Served, error) {
	layer, diffID, err := c.layer("canned")
	if err != nil {
		return Served{}, err
	}
	cfg, err := mk(diffID)
	if err != nil {
		return Served{}, err
	}
	c.blob(cfg)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		MediaTypeOCIManifest, cfg.mediaType, cfg.digest, cfg.size, layer.mediaType, layer.digest, layer.size)
	mo := c.manifest(bytesObject(MediaTypeOCIManifest, []byte(m)))
	return Served{Digest: mo.digest, MediaType: mo.mediaType, Manifest: []byte(m), ConfigDigest: cfg.digest, ConfigSize: cfg.size}, nil
}

// layer cans a small gzip tar layer holding one file; it returns the blob
// and the layer's diffID.
func (c *cannedSet) layer(name string) (*object, string, error) {
	tarball, err := tarOf([]tarEntry{{Name: "canned/" + name, Body: "canned by hostile: " + name + "\n"}})
	if err != nil {
		return nil, "", err
	}
	gz, err := gzipOf(tarball)
	if err != nil {
		return nil, "", err
	}
	return c.blob(bytesObject(MediaTypeOCILayer, gz)), digestOf(tarball), nil
}

// hugeConfig makes a config of the given size, generated JSON that lists diffID.
func hugeConfig(size int64) configFunc {
	return func(diffID string) (*object, error) {
		if size == 0 {
			size = DefaultHugeConfigSize
		}
		g, err := newBigJSON(size, diffID)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		if err := g.writeTo(h); err != nil {
			return nil, err
		}
		return &object{mediaType: MediaTypeOCIConfig, digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), size: size, write: g.writeTo}, nil
	}
}

// index cans an OCI index: with one linux/s390x child image, or empty.
func (c *cannedSet) index(withChild bool) (Served, error) {
	var children []string
	manifests := "[]"
	if withChild {
		child, err := c.image(func(diffID string) (*object, error) {
			return bytesObject(MediaTypeOCIConfig, []byte(fmt.Sprintf(
				`{"architecture":"s390x","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%q]}}`, diffID))), nil
		})
		if err != nil {
			return Served{}, err
		}
		children = []string{child.Digest}
		manifests = fmt.Sprintf(`[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"s390x","os":"linux"}}]`,
			MediaTypeOCIManifest, child.Digest, len(child.Manifest))
	}
	idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":%s}`, MediaTypeOCIIndex, manifests)
	o := c.manifest(bytesObject(MediaTypeOCIIndex, []byte(idx)))
	return Served{Digest: o.digest, MediaType: o.mediaType, Manifest: []byte(idx), Children: children}, nil
}
