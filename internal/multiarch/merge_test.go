package multiarch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func fakeHash(s string) v1.Hash {
	sum := sha256.Sum256([]byte(s))
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func fakeChild(plat, seed string, annots map[string]string) child {
	p, err := v1.ParsePlatform(plat)
	if err != nil {
		panic(err)
	}
	return child{
		desc:     v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 500, Digest: fakeHash(seed)},
		platform: *p,
		annots:   annots,
	}
}

func TestBuildIndexSortsAndIsDeterministic(t *testing.T) {
	a := fakeChild("linux/arm64", "a", map[string]string{"org.opencontainers.image.revision": "abc"})
	b := fakeChild("linux/amd64", "b", nil)
	c := fakeChild("linux/arm/v7", "c", nil)
	ann := map[string]string{"org.opencontainers.image.description": "d", "org.opencontainers.image.source": "s"}
	first, err := buildIndex([]child{a, b, c}, ann)
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]child{{c, b, a}, {b, a, c}, {a, c, b}} {
		raw, err := buildIndex(order, ann)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, first) {
			t.Fatalf("input order changed the index:\n%s\n%s", first, raw)
		}
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if im.SchemaVersion != 2 || im.MediaType != types.OCIImageIndex {
		t.Fatalf("schemaVersion %d mediaType %s", im.SchemaVersion, im.MediaType)
	}
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.String())
	}
	if want := []string{"linux/amd64", "linux/arm/v7", "linux/arm64"}; !reflect.DeepEqual(plats, want) {
		t.Fatalf("platform order %v, want %v", plats, want)
	}
	if got := im.Manifests[2].Annotations; !reflect.DeepEqual(got, a.annots) {
		t.Fatalf("arm64 descriptor annotations %v, want %v", got, a.annots)
	}
	if !reflect.DeepEqual(im.Annotations, ann) {
		t.Fatalf("index annotations %v, want %v", im.Annotations, ann)
	}
	if bytes.Contains(first, []byte(`"annotations":{}`)) || bytes.Contains(first, []byte("null")) {
		t.Fatalf("empty fields encoded: %s", first)
	}
}

func TestBuildIndexRefusesDuplicatePlatform(t *testing.T) {
	for _, pair := range [][2]string{
		{"linux/amd64", "linux/amd64"},
		{"linux/arm64", "linux/arm64/v8"}, // v8 is arm64's default variant
		{"linux/arm", "linux/arm/v7"},
	} {
		x, y := fakeChild(pair[0], "x", nil), fakeChild(pair[1], "y", nil)
		_, err := buildIndex([]child{x, y}, nil)
		var dup *DuplicatePlatformError
		if !errors.As(err, &dup) {
			t.Fatalf("%v: err = %v, want *DuplicatePlatformError", pair, err)
		}
		got := map[v1.Hash]bool{dup.Digests[0]: true, dup.Digests[1]: true}
		if !got[x.desc.Digest] || !got[y.desc.Digest] {
			t.Fatalf("%v: error names %v, want both %s and %s", pair, dup.Digests, x.desc.Digest, y.desc.Digest)
		}
		if msg := err.Error(); !strings.Contains(msg, x.desc.Digest.String()) || !strings.Contains(msg, y.desc.Digest.String()) {
			t.Fatalf("message %q does not name both digests", msg)
		}
	}
	// Different variants and OS versions are different platforms.
	if _, err := buildIndex([]child{fakeChild("linux/arm/v6", "x", nil), fakeChild("linux/arm/v7", "y", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := buildIndex([]child{fakeChild("windows/amd64:10.0.17763.1", "x", nil), fakeChild("windows/amd64:10.0.20348.1", "y", nil)}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDescriptorAnnotations(t *testing.T) {
	got := descriptorAnnotations(map[string]string{
		"org.opencontainers.image.revision": "abc",
		"org.opencontainers.image.created":  "2024-01-01T00:00:00Z",
		"org.opencontainers.image.ref.name": "v1",
		"org.nix-layer-action.key":          "k",
		"com.example.private":               "p",
	})
	want := map[string]string{"org.opencontainers.image.revision": "abc", "org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("descriptorAnnotations = %v, want %v", got, want)
	}
	if descriptorAnnotations(map[string]string{"x": "y"}) != nil {
		t.Fatal("no OCI key should give nil (no empty annotations object)")
	}
}

func TestFindInIndex(t *testing.T) {
	raw, err := buildIndex([]child{fakeChild("linux/amd64", "a", nil), fakeChild("linux/arm64/v8", "b", nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := v1.ParseIndexManifest(bytes.NewReader(raw))
	d, err := findInIndex(im, v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil || d.Digest != fakeHash("b") {
		t.Fatalf("linux/arm64 → %v, %v; want the arm64/v8 child", d.Digest, err)
	}
	_, err = findInIndex(im, v1.Platform{OS: "linux", Architecture: "s390x"})
	var nf *PlatformNotFoundError
	if !errors.As(err, &nf) || !reflect.DeepEqual(nf.Available, []string{"linux/amd64", "linux/arm64/v8"}) {
		t.Fatalf("s390x: err = %v (%+v)", err, nf)
	}
}

func TestOptionsValidated(t *testing.T) {
	for name, o := range map[string]Option{
		"bad tag":        WithTags("has space"),
		"long tag":       WithTags(strings.Repeat("a", 129)),
		"leading dot":    WithTags(".v1"),
		"nil logger":     WithLogger(nil),
		"empty key":      WithAnnotations(map[string]string{"": "x"}),
		"nil remote opt": WithRemoteOptions(nil),
		"nil option":     nil,
	} {
		if _, err := newConfig([]Option{o}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := newConfig([]Option{WithTags("v1", "latest", "v1"), WithAnnotations(map[string]string{"a": "1"}), WithAnnotations(map[string]string{"a": "2", "b": "3"})})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.tags, []string{"v1", "latest"}) || !reflect.DeepEqual(c.annotations, map[string]string{"a": "2", "b": "3"}) {
		t.Fatalf("config = %+v", c)
	}
	c.log("default logger discards %d", 1) // must not panic
}

// TestBuildIndexSharedAnnotations: what every child says alike (one
// commit's description, source) goes on the index; what differs
// (created) stays on the descriptors; given annotations win.
func TestBuildIndexSharedAnnotations(t *testing.T) {
	const desc, src, created = "org.opencontainers.image.description", "org.opencontainers.image.source", "org.opencontainers.image.created"
	a := fakeChild("linux/arm64", "a", map[string]string{desc: "app", src: "https://github.com/o/r", created: "2026-01-01T00:00:00Z"})
	b := fakeChild("linux/amd64", "b", map[string]string{desc: "app", src: "https://github.com/o/r", created: "2026-01-02T00:00:00Z"})
	raw, err := buildIndex([]child{a, b}, map[string]string{src: "https://github.com/o/other"})
	if err != nil {
		t.Fatal(err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{desc: "app", src: "https://github.com/o/other"}
	if !reflect.DeepEqual(im.Annotations, want) {
		t.Fatalf("index annotations %v, want %v", im.Annotations, want)
	}
	if im.Manifests[0].Annotations[created] != "2026-01-02T00:00:00Z" {
		t.Fatalf("amd64 descriptor lost its created annotation: %v", im.Manifests[0].Annotations)
	}
}
