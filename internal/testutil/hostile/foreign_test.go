package hostile

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// testLayers are two layers as a plan would name them.
func testLayers() []LayerSpec {
	return []LayerSpec{
		{Name: "base", Key: "sha256:" + strings.Repeat("a", 64), Paths: []PathSize{
			{Path: "/nix/store/" + strings.Repeat("0", 32) + "-glibc-2.40", NarSize: 30 << 20},
			{Path: "/nix/store/" + strings.Repeat("1", 32) + "-bash-5.2", NarSize: 5 << 20},
		}},
		// As from `plan --json`: paths without NAR sizes.
		{Name: "app", Key: "sha256:" + strings.Repeat("b", 64), Paths: PathsOf(
			"/nix/store/"+strings.Repeat("2", 32)+"-hello-2.12",
			"/nix/store/"+strings.Repeat("3", 32)+"-libiconv-109",
			"/nix/store/"+strings.Repeat("4", 32)+"-hello-data",
		)},
	}
}

// comment is the decoded history comment of a layer.
type comment struct {
	Name      string
	Key       string
	Paths     *[]PathSize
	Truncated bool
	Size      int64 `json:"uncompressedSize"`
}

// read is a foreign image as go-containerregistry reads it back.
type read struct {
	img v1.Image
	m   *v1.Manifest
	cf  *v1.ConfigFile
}

func readBack(t *testing.T, f *Foreign) read {
	t.Helper()
	img, err := remote.Image(mustRef(t, f.Ref))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil || !bytes.Equal(raw, f.Manifest) {
		t.Fatalf("manifest read back %s (err %v), want %s", raw, err, f.Manifest)
	}
	if d, _ := img.Digest(); d.String() != f.Digest {
		t.Fatalf("digest %s, want %s", d, f.Digest)
	}
	cfg, err := img.RawConfigFile()
	if err != nil || !bytes.Equal(cfg, f.Config) {
		t.Fatalf("config read back %s (err %v), want %s", cfg, err, f.Config)
	}
	m, _ := img.Manifest()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("config does not parse: %v", err)
	}
	return read{img: img, m: m, cf: cf}
}

func TestForeignImages(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	specs := testLayers()
	for _, forgery := range append([]Forgery{Faithful}, Forgeries()...) {
		t.Run(string(forgery), func(t *testing.T) {
			f := PushForeign(t, ForeignSpec{Registry: reg.URL(), Repo: "foreign/" + string(forgery), Tag: "v1",
				Layers: specs, Forgery: forgery, Forge: []int{1}})
			r := readBack(t, f)
			if len(f.Layers) != 2 || f.Layers[0].Forged || f.Layers[1].Forged != (forgery != Faithful && !forgery.imageLevel()) {
				t.Fatalf("layers %+v", f.Layers)
			}
			// Layer 0 is never forged: it is what the product writes.
			requireFaithfulLayer(t, r, 0, specs[0], f.Layers[0])
			if forgery == Faithful || forgery.imageLevel() {
				requireFaithfulLayer(t, r, 1, specs[1], f.Layers[1])
			}
			checkForgery(t, forgery, r, specs[1], f)
		})
	}
}

// requireFaithfulLayer checks layer i is exactly what nix-layer-action writes.
func requireFaithfulLayer(t *testing.T, r read, i int, spec LayerSpec, fl ForeignLayer) {
	t.Helper()
	d := r.m.Layers[i]
	if d.MediaType != MediaTypeOCILayer || d.Size != fl.Size || d.Digest.String() != fl.Digest ||
		d.Annotations[AnnotationKey] != spec.Key || d.Annotations[AnnotationLayer] != spec.Name {
		t.Fatalf("layer %d descriptor %+v", i, d)
	}
	if len(r.cf.RootFS.DiffIDs) <= i || r.cf.RootFS.DiffIDs[i].String() != fl.DiffID {
		t.Fatalf("layer %d diffID: config %v, real %s", i, r.cf.RootFS.DiffIDs, fl.DiffID)
	}
	h := r.cf.History[i]
	c := parseTestComment(t, h.Comment)
	if h.CreatedBy != CreatedByPrefix+spec.Name || c.Key != spec.Key || c.Name != spec.Name || c.Truncated ||
		c.Paths == nil || !slices.Equal(*c.Paths, spec.Paths) || c.Size <= 0 {
		t.Fatalf("layer %d history %+v", i, h)
	}
	l, err := r.img.LayerByDigest(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := readDigest(l.Uncompressed, fl.DiffID, c.Size); err != nil {
		t.Fatalf("layer %d content: %v", i, err)
	}
}

func parseTestComment(t *testing.T, s string) comment {
	t.Helper()
	var c comment
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("comment %q: %v", s, err)
	}
	return c
}

func TestForeignWithSkopeoAndAuth(t *testing.T) {
	reg := registry.Start(t, registry.Options{Htpasswd: map[string]string{"u": "p"}})
	spec := ForeignSpec{Registry: reg.URL(), Repo: "foreign/auth", Tag: "v1", Layers: testLayers(), Forgery: LyingBlob}
	if _, err := pushForeign(spec); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("push without credentials: err = %v, want a 401", err)
	}
	spec.Username, spec.Password = "u", "p"
	f := PushForeign(t, spec)
	if f.Ref != reg.Ref("foreign/auth:v1") {
		t.Fatalf("Ref = %s", f.Ref)
	}
	creds := []string{"--tls-verify=false", "--creds", "u:p", "docker://" + f.Ref}
	if out := skopeo(t, append([]string{"inspect", "--raw"}, creds...)...); out != string(f.Manifest) {
		t.Fatalf("skopeo manifest:\n%s\nwant:\n%s", out, f.Manifest)
	}
	if out := skopeo(t, append([]string{"inspect", "--config", "--raw"}, creds...)...); out != string(f.Config) {
		t.Fatalf("skopeo config:\n%s\nwant:\n%s", out, f.Config)
	}
}
