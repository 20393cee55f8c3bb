package e2e

// Helpers for the reliability tests: a synthetic store-root fixture (plans
// that build without Nix, with layers of chosen size and content), the long
// mode flag, and checks that read the registry directly (never through the
// fault proxy).

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// reliabilityLong selects the long versions (50 faulty pushes, 30 SIGKILLs);
// scripts/reliability.sh sets it.
var reliabilityLong = flag.Bool("reliability.long", false, "run the long reliability tests (scripts/reliability.sh)")

// pick returns long under -reliability.long, else short.
func pick(short, long int) int {
	if *reliabilityLong {
		return long
	}
	return short
}

// synthPkg is one store path of a synthetic store: a directory holding a
// file of Size pseudo-random (incompressible) bytes seeded by Seed.
type synthPkg struct {
	Name string
	Seed int64
	Size int
}

const nixBase32Chars = "0123456789abcdfghijklmnpqrsvwxyz"

// storePath derives a valid-looking store path from the package's name and
// content seed (a new seed is a new path, as in Nix).
func (p synthPkg) storePath() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%d", p.Name, p.Seed, p.Size)))
	var h [32]byte
	for i := range h {
		h[i] = nixBase32Chars[sum[i]%32]
	}
	return "/nix/store/" + string(h[:]) + "-" + p.Name
}

// synthPlan writes, under dir, a store tree, a closure.json with the real
// NAR hashes, and a plan with one layer per package (bottom first). extra is
// appended to the plan's YAML (e.g. a config block). Returns the plan file.
func synthPlan(t *testing.T, dir string, pkgs []synthPkg, extra string) string {
	t.Helper()
	type info struct {
		Path       string   `json:"path"`
		NarHash    string   `json:"narHash"`
		NarSize    int64    `json:"narSize"`
		References []string `json:"references"`
	}
	var infos []info
	var plan strings.Builder
	plan.WriteString("version: 1\nclosure-graph: closure.json\nstore-root: store\nlayers:\n")
	for _, p := range pkgs {
		sp := p.storePath()
		host := filepath.Join(dir, "store", sp)
		if err := os.MkdirAll(filepath.Join(host, "share"), 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, p.Size)
		rand.New(rand.NewSource(p.Seed)).Read(data)
		if err := os.WriteFile(filepath.Join(host, "share", "data"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		nar, err := nixfix.Nar(host)
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, info{Path: sp, NarHash: nar.Base32, NarSize: nar.Size, References: []string{}})
		fmt.Fprintf(&plan, "  - name: %s\n    deps: [%q]\n", p.Name, sp)
	}
	plan.WriteString(extra)
	data, err := json.MarshalIndent(infos, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "closure.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "nix-layers.yaml")
	if err := os.WriteFile(file, []byte(plan.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// stackPkgs is a three-layer image: a constant base, and mid and app layers
// whose content follows variant (variant 0 and 1 differ in both).
func stackPkgs(variant int64, midSize int) []synthPkg {
	return []synthPkg{
		{Name: "base", Seed: 1, Size: 256 << 10},
		{Name: "mid", Seed: 1000 + variant, Size: midSize},
		{Name: "app", Seed: 2000 + variant, Size: 64 << 10},
	}
}

// headBlob reports whether the registry (read directly) has the blob.
func headBlob(t *testing.T, reg *registry.Registry, repo string, d v1.Hash) bool {
	t.Helper()
	resp, err := http.Head(reg.URL() + "/v2/" + repo + "/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tagDigest returns the digest the tag points at in the registry, or "" when
// the tag does not exist.
func tagDigest(t *testing.T, reg *registry.Registry, repo, tag string) string {
	t.Helper()
	// distribution's filesystem driver writes a tag's link file in place: a
	// HEAD racing a manifest PUT still in flight in the registry (sent by a
	// process we just killed) can read it half-written and answer 500
	// "invalid checksum digest format". Ask again, a bounded number of times.
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequest(http.MethodHead, reg.URL()+"/v2/"+repo+"/manifests/"+tag, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return ""
		case resp.StatusCode == http.StatusOK:
			return resp.Header.Get("Docker-Content-Digest")
		case resp.StatusCode >= 500 && attempt < 20:
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("HEAD manifest %s:%s = %d", repo, tag, resp.StatusCode)
		}
	}
}

// pullVerify copies ref from the registry (directly, not via the proxy) with
// skopeo into a fresh OCI layout, re-hashes every blob and returns the
// manifest digest skopeo saw.
func pullVerify(t *testing.T, reg *registry.Registry, repoTag string) string {
	t.Helper()
	skopeo := testutil.RequireTool(t, "skopeo")
	dir := filepath.Join(t.TempDir(), "pull")
	run(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+reg.Ref(repoTag), "oci:"+dir+":x")
	verifyBlobs(t, dir)
	return strings.TrimSpace(run(t, skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+reg.Ref(repoTag)))
}

// blobSet lists an image's blobs (layers and config) with their sizes.
type blobSet map[v1.Hash]int64

// expectedImage builds the plan to an OCI layout (no registry) and returns
// the image digest and its blobs: what a push of the plan must produce.
func expectedImage(t *testing.T, planFile string) (string, blobSet, *cliReport) {
	t.Helper()
	dir := t.TempDir()
	lay := filepath.Join(dir, "oci")
	r, _ := mustBuildReport(t, nil, planFile, "--output", "oci:"+lay, "--temp-dir", dir, "--report", filepath.Join(dir, "r.json"))
	p, err := layout.FromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(r.Digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	bs := blobSet{m.Config.Digest: m.Config.Size}
	for _, l := range m.Layers {
		bs[l.Digest] = l.Size
	}
	return r.Digest, bs, r
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// emptyDir fails unless dir exists and is empty.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("temp dir %s not cleaned up: %v", dir, names)
	}
}
