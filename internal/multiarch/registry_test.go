package multiarch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var indexAnnotations = map[string]string{
	"org.opencontainers.image.description": "nix-layer-action multi-arch test",
	"org.opencontainers.image.source":      "https://github.com/org/nix-layer-action",
}

// twoPlatforms pushes a linux/amd64 and a linux/arm64 image by digest.
func twoPlatforms(t *testing.T, repo name.Repository) (amd, arm v1.Hash, imgs []v1.Image) {
	t.Helper()
	ai := platformImage(t, "linux/amd64", "amd64 build", map[string]string{"org.opencontainers.image.revision": "rev-amd64"})
	ri := platformImage(t, "linux/arm64", "arm64 build", map[string]string{"org.opencontainers.image.revision": "rev-arm64", "com.example.private": "x"})
	return pushByDigest(t, repo, ai), pushByDigest(t, repo, ri), []v1.Image{ai, ri}
}

func TestMergeAgainstRealRegistry(t *testing.T) {
	reg, repo := testRepo(t, "org/app")
	amd, arm, imgs := twoPlatforms(t, repo)
	rec := &recorder{}
	var logs []string
	opts := []Option{
		WithRemoteOptions(remote.WithTransport(rec)),
		WithTags("v1", "latest"),
		WithAnnotations(indexAnnotations),
		WithLogger(func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }),
	}
	res, err := Merge(context.Background(), repo, []v1.Hash{arm, amd}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pushed) != 2 || len(res.Unchanged) != 0 || rec.count("PUT") != 2 {
		t.Fatalf("first merge pushed %v, unchanged %v, %d PUTs; want both tags pushed", res.Pushed, res.Unchanged, rec.count("PUT"))
	}
	if want := []Child{{amd, v1.Platform{OS: "linux", Architecture: "amd64"}}, {arm, v1.Platform{OS: "linux", Architecture: "arm64"}}}; !slices.EqualFunc(res.Children, want, func(a, b Child) bool {
		return a.Digest == b.Digest && a.Platform.Equals(b.Platform)
	}) {
		t.Fatalf("children %+v, want %+v", res.Children, want)
	}
	assertOnlyManifestsAndConfigs(t, rec, layerDigests(t, imgs...))
	if len(logs) == 0 {
		t.Fatal("logger got nothing")
	}

	checkIndexWithSkopeo(t, reg.Ref("org/app:v1"), res.Digest, amd, arm)
	// skopeo picks the child for the platform asked for: its config and
	// its (distinct) layer.
	amdLayers, armLayers := layerDigests(t, imgs[0]), layerDigests(t, imgs[1])
	for _, tag := range []string{"v1", "latest"} {
		got := skopeoResolve(t, reg.Ref("org/app:"+tag), "linux", "arm64")
		if got.Digest != res.Digest.String() || got.Architecture != "arm64" || !slices.Equal(got.Layers, armLayers) {
			t.Fatalf("skopeo --override-arch arm64 %s resolves to %+v, want index %s → layers %v", tag, got, res.Digest, armLayers)
		}
	}
	if got := skopeoResolve(t, reg.Ref("org/app:v1"), "linux", "amd64"); got.Architecture != "amd64" || !slices.Equal(got.Layers, amdLayers) {
		t.Fatalf("amd64 resolves to %+v, want layers %v", got, amdLayers)
	}

	// Again, with the digests in the other order: same index, nothing written.
	rec.reset()
	again, err := Merge(context.Background(), repo, []v1.Hash{amd, arm, amd}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != res.Digest || string(again.Manifest) != string(res.Manifest) {
		t.Fatalf("second merge gave %s, first %s", again.Digest, res.Digest)
	}
	if n := rec.count("PUT"); n != 0 || len(again.Pushed) != 0 || len(again.Unchanged) != 2 {
		t.Fatalf("second merge: %d PUTs, pushed %v, unchanged %v; want no PUT\n%v", n, again.Pushed, again.Unchanged, rec.requests())
	}
}

// assertOnlyManifestsAndConfigs fails if any request touched a layer blob
// or was an upload.
func assertOnlyManifestsAndConfigs(t *testing.T, rec *recorder, layers []string) {
	t.Helper()
	for _, q := range rec.requests() {
		for _, l := range layers {
			if strings.Contains(q, l) {
				t.Errorf("merge touched layer %s: %s", l, q)
			}
		}
		if strings.Contains(q, "/blobs/uploads") {
			t.Errorf("merge uploaded a blob: %s", q)
		}
	}
}

// checkIndexWithSkopeo reads ref's raw manifest with skopeo and checks it
// is our OCI index: digest, media type, platforms, annotations.
func checkIndexWithSkopeo(t *testing.T, ref string, digest, amd, arm v1.Hash) {
	t.Helper()
	raw, got := skopeoRaw(t, ref)
	if got != digest {
		t.Fatalf("skopeo sees %s at %s, Merge reported %s", got, ref, digest)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 {
		t.Fatalf("index mediaType %q with %d manifests:\n%s", im.MediaType, len(im.Manifests), raw)
	}
	for i, want := range []struct {
		digest         v1.Hash
		arch, revision string
	}{{amd, "amd64", "rev-amd64"}, {arm, "arm64", "rev-arm64"}} {
		m := im.Manifests[i]
		if m.Digest != want.digest || m.MediaType != types.OCIManifestSchema1 || m.Platform == nil ||
			m.Platform.OS != "linux" || m.Platform.Architecture != want.arch {
			t.Fatalf("manifest %d = %+v, want %s linux/%s", i, m, want.digest, want.arch)
		}
		if m.Annotations["org.opencontainers.image.revision"] != want.revision || m.Annotations["com.example.private"] != "" {
			t.Fatalf("manifest %d annotations %v", i, m.Annotations)
		}
	}
	for k, v := range indexAnnotations {
		if im.Annotations[k] != v {
			t.Fatalf("index annotation %s = %q, want %q", k, im.Annotations[k], v)
		}
	}
}

func TestMergeRefusesDuplicatePlatform(t *testing.T) {
	_, repo := testRepo(t, "org/dup")
	one := pushByDigest(t, repo, platformImage(t, "linux/amd64", "one", nil))
	two := pushByDigest(t, repo, platformImage(t, "linux/amd64", "two", nil))
	rec := &recorder{}
	_, err := Merge(context.Background(), repo, []v1.Hash{one, two}, WithTags("v1"), WithRemoteOptions(remote.WithTransport(rec)))
	var dup *DuplicatePlatformError
	if !errors.As(err, &dup) || dup.Platform != "linux/amd64" {
		t.Fatalf("err = %v, want *DuplicatePlatformError for linux/amd64", err)
	}
	if msg := err.Error(); !strings.Contains(msg, one.String()) || !strings.Contains(msg, two.String()) {
		t.Fatalf("error %q does not name both digests", msg)
	}
	if n := rec.count("PUT"); n != 0 {
		t.Fatalf("%d PUTs after a refused merge", n)
	}
}

func TestMergeRefusesIndexAndPlatformlessInputs(t *testing.T) {
	_, repo := testRepo(t, "org/odd")
	amd, arm, _ := twoPlatforms(t, repo)
	res, err := Merge(context.Background(), repo, []v1.Hash{amd, arm})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge(context.Background(), repo, []v1.Hash{res.Digest, amd})
	var ierr *IndexInputError
	if !errors.As(err, &ierr) || ierr.Digest != res.Digest {
		t.Fatalf("index input: err = %v, want *IndexInputError", err)
	}
	bare := pushByDigest(t, repo, platformImage(t, "", "no platform", nil))
	_, err = Merge(context.Background(), repo, []v1.Hash{amd, bare})
	var perr *MissingPlatformError
	if !errors.As(err, &perr) || perr.Digest != bare {
		t.Fatalf("platformless input: err = %v, want *MissingPlatformError", err)
	}
	if _, err := Merge(context.Background(), repo, nil); err == nil {
		t.Fatal("merging nothing succeeded")
	}
}

// TestPushByDigestThenTag is the smoke-test flow: Merge without tags
// writes the index by digest only; Tag then moves tags onto it (or onto a
// single image), once.
func TestPushByDigestThenTag(t *testing.T) {
	reg, repo := testRepo(t, "org/flow")
	amd, arm, _ := twoPlatforms(t, repo)
	res, err := Merge(context.Background(), repo, []v1.Hash{amd, arm})
	if err != nil {
		t.Fatal(err)
	}
	if want := repo.Digest(res.Digest.String()).String(); !slices.Equal(res.Pushed, []string{want}) {
		t.Fatalf("pushed %v, want only %s", res.Pushed, want)
	}
	// No tag exists (distribution answers NAME_UNKNOWN for a repository
	// without tags).
	if tags, err := remote.List(repo); len(tags) != 0 || (err != nil && !isAbsent(err)) {
		t.Fatalf("tags after a by-digest merge: %v, %v", tags, err)
	}
	if _, got := skopeoRaw(t, reg.Ref("org/flow@"+res.Digest.String())); got != res.Digest {
		t.Fatalf("by digest skopeo sees %s", got)
	}

	rec := &recorder{}
	ro := WithRemoteOptions(remote.WithTransport(rec))
	stable := repo.Tag("stable")
	if moved, err := Tag(context.Background(), stable, res.Digest, ro); err != nil || !moved {
		t.Fatalf("Tag = %v, %v; want moved", moved, err)
	}
	if _, got := skopeoRaw(t, reg.Ref("org/flow:stable")); got != res.Digest {
		t.Fatalf("skopeo sees %s at :stable, want %s", got, res.Digest)
	}
	rec.reset()
	if moved, err := Tag(context.Background(), stable, res.Digest, ro); err != nil || moved || rec.count("PUT") != 0 {
		t.Fatalf("Tag again = %v, %v with %d PUTs; want a no-op", moved, err, rec.count("PUT"))
	}
	// A tag moves from the index to a single image.
	if moved, err := Tag(context.Background(), stable, arm, ro); err != nil || !moved {
		t.Fatalf("Tag to image = %v, %v", moved, err)
	}
	if got := skopeoResolve(t, reg.Ref("org/flow:stable"), "linux", "arm64"); got.Digest != arm.String() || got.Architecture != "arm64" {
		t.Fatalf("skopeo sees %+v at :stable, want image %s", got, arm)
	}
	if _, err := Tag(context.Background(), repo.Tag("nope"), fakeHash("absent")); err == nil {
		t.Fatal("tagging a digest that is not in the repository succeeded")
	}
}

func TestFindPlatformAgainstRealRegistry(t *testing.T) {
	_, repo := testRepo(t, "org/find")
	amd, arm, _ := twoPlatforms(t, repo)
	if _, err := Merge(context.Background(), repo, []v1.Hash{amd, arm}, WithTags("v1")); err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Get(repo.Tag("v1"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := FindPlatform(idx, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil || d.Digest != arm {
		t.Fatalf("FindPlatform(index, linux/arm64/v8) = %v, %v; want %s", d.Digest, err, arm)
	}
	_, err = FindPlatform(idx, v1.Platform{OS: "linux", Architecture: "riscv64"})
	var nf *PlatformNotFoundError
	if !errors.As(err, &nf) || len(nf.Available) != 2 {
		t.Fatalf("riscv64 in index: err = %v", err)
	}

	img, err := remote.Get(repo.Digest(amd.String()))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := FindPlatform(img, v1.Platform{OS: "linux", Architecture: "amd64"}); err != nil || d.Digest != amd || d.Platform == nil {
		t.Fatalf("FindPlatform(image, linux/amd64) = %+v, %v", d, err)
	}
	if _, err := FindPlatform(img, v1.Platform{OS: "linux", Architecture: "arm64"}); !errors.As(err, &nf) || !slices.Equal(nf.Available, []string{"linux/amd64"}) {
		t.Fatalf("FindPlatform(amd64 image, arm64) err = %v", err)
	}
	if _, err := FindPlatform(nil, v1.Platform{OS: "linux", Architecture: "amd64"}); !errors.As(err, &nf) {
		t.Fatalf("FindPlatform(nil) err = %v", err)
	}
}
