package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/org/nix-layer-action/internal/testutil"
)

func TestParseOutput(t *testing.T) {
	good := map[string]Output{
		"registry":                 {Kind: "registry"},
		"oci:out/dir":              {Kind: "oci", Path: "out/dir"},
		"oci:/abs:with:colons":     {Kind: "oci", Path: "/abs:with:colons"},
		"docker-archive:image.tar": {Kind: "docker-archive", Path: "image.tar"},
	}
	for in, want := range good {
		got, err := ParseOutput(in)
		if err != nil || got != want {
			t.Errorf("ParseOutput(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, _ := ParseOutput(got.String()); back != got {
			t.Errorf("String round trip of %q: %+v", in, back)
		}
	}
	for _, bad := range []string{"", "oci", "oci:", "docker-archive:", "docker:foo", "registry:x", "tar:x", "OCI:dir"} {
		if got, err := ParseOutput(bad); err == nil {
			t.Errorf("ParseOutput(%q) = %+v, want error", bad, got)
		}
	}
}

func TestOCILayout(t *testing.T) {
	img := assemble(t, named(t, 1, 2, 3))
	dir := filepath.Join(t.TempDir(), "layout")
	d, err := ociPublish(dir, img, "app:v1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}
	verifyLayoutBlobs(t, dir, img)

	// Writing the same ref again replaces, a new ref appends.
	if _, err := ociPublish(dir, img, "app:v1"); err != nil {
		t.Fatal(err)
	}
	other := assemble(t, named(t, 4))
	if _, err := ociPublish(dir, other, "app:v2"); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	refs := map[string]string{}
	for _, m := range im.Manifests {
		refs[m.Annotations[AnnotationRefName]] = m.Digest.String()
	}
	od, _ := other.Digest()
	if len(im.Manifests) != 2 || refs["app:v1"] != want.String() || refs["app:v2"] != od.String() {
		t.Fatalf("index manifests = %+v", im.Manifests)
	}

	// Deterministic: a fresh layout of the same image has identical index bytes.
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, d := range []string{a, b} {
		if _, err := ociPublish(d, assemble(t, named(t, 1, 2, 3)), "app:v1"); err != nil {
			t.Fatal(err)
		}
	}
	ia, _ := os.ReadFile(filepath.Join(a, "index.json"))
	ib, _ := os.ReadFile(filepath.Join(b, "index.json"))
	if !bytes.Equal(ia, ib) {
		t.Fatalf("index.json differs:\n%s\n%s", ia, ib)
	}

	// A path that exists but is not a layout is an error, not overwritten.
	junk := t.TempDir()
	if err := os.WriteFile(filepath.Join(junk, "index.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ociPublish(junk, img, "x"); err == nil {
		t.Fatal("OCILayout over a corrupt index.json succeeded")
	}
}

func TestOCILayoutReadableByTools(t *testing.T) {
	testutil.Short(t)
	skopeo := testutil.RequireTool(t, "skopeo")
	umoci := testutil.RequireTool(t, "umoci")
	img := assemble(t, named(t, 1, 2, 3))
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := ociPublish(dir, img, "v1"); err != nil {
		t.Fatal(err)
	}
	out := run(t, skopeo, "inspect", "oci:"+dir+":v1")
	var insp struct {
		Digest       string
		Layers       []string
		Architecture string
	}
	if err := json.Unmarshal([]byte(out), &insp); err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	want, _ := img.Digest()
	if insp.Digest != want.String() || len(insp.Layers) != 3 || insp.Architecture != "amd64" {
		t.Fatalf("skopeo inspect = %+v, want digest %s, 3 layers, amd64", insp, want)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, umoci, "unpack", "--rootless", "--image", dir+":v1", bundle)
	if _, err := os.Stat(filepath.Join(bundle, "config.json")); err != nil {
		t.Fatalf("umoci bundle has no runtime config: %v", err)
	}
	ents, err := os.ReadDir(filepath.Join(bundle, "rootfs"))
	if err != nil || len(ents) == 0 {
		t.Fatalf("umoci rootfs empty: %v %v", ents, err)
	}
}

func TestDockerArchive(t *testing.T) {
	img := assemble(t, named(t, 1, 2))
	file := filepath.Join(t.TempDir(), "img.tar")
	r := ref(t, "example.com/team/app:v1")
	d, err := dockerPublish(file, img, r)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}
	back, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := img.ConfigName()
	gc, _ := back.ConfigName()
	if wc != gc {
		t.Fatalf("config digest %s, want %s", gc, wc)
	}

	// skopeo reads the archive (skips on a laptop without skopeo, after the checks above).
	skopeo := testutil.RequireTool(t, "skopeo")
	out := run(t, skopeo, "inspect", "docker-archive:"+file)
	var insp struct {
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal([]byte(out), &insp); err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	// A docker-archive stores uncompressed layers: skopeo lists the diffIDs.
	cf, _ := img.ConfigFile()
	if len(insp.Layers) != 2 || insp.Layers[0] != cf.RootFS.DiffIDs[0].String() || insp.Layers[1] != cf.RootFS.DiffIDs[1].String() {
		t.Fatalf("skopeo layers = %v, want diffIDs %v", insp.Layers, cf.RootFS.DiffIDs)
	}
	// The tag is in the archive's manifest.json, where docker load reads it.
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != "example.com/team/app:v1" {
		t.Fatalf("archive manifest = %+v, want tag example.com/team/app:v1", m)
	}
}

func ociPublish(dir string, img v1.Image, refName string) (v1.Hash, error) {
	res, err := (&OCILayout{Dir: dir, RefName: refName}).Publish(context.Background(), img)
	if err != nil {
		return v1.Hash{}, err
	}
	return res.Digest, nil
}

func dockerPublish(file string, img v1.Image, r name.Reference) (v1.Hash, error) {
	res, err := (&DockerArchive{File: file, Ref: r}).Publish(context.Background(), img)
	if err != nil {
		return v1.Hash{}, err
	}
	return res.Digest, nil
}
