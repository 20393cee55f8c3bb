package image

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testLayer is a real gzip'd tar layer with content fixed by seed.
func testLayer(t testing.TB, seed int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(512+seed*13, types.OCILayer, random.WithSource(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testKey(i int) string {
	return fmt.Sprintf("sha256:%064x", i+1)
}

func testNamed(t testing.TB, n int) []Named {
	t.Helper()
	var out []Named
	for i := 0; i < n; i++ {
		out = append(out, Named{
			Layer: testLayer(t, int64(i+1)),
			Meta: LayerMeta{
				Name: fmt.Sprintf("layer-%d", i),
				Key:  testKey(i),
				Paths: []PathSize{
					{Path: fmt.Sprintf("/nix/store/%032d-pkg%d", i, i), NarSize: int64(1000 * (i + 1))},
				},
			},
		})
	}
	return out
}

func TestAssembleManifestConfigAndHistory(t *testing.T) {
	layers := testNamed(t, 3)
	img, err := Assemble(nil, layers, ConfigOptions{
		Entrypoint:   []string{"/nix/store/x-hello/bin/hello"},
		Cmd:          []string{"--greeting", "hi"},
		Env:          []string{"PATH=/nix/store/x-hello/bin", "LANG=C.UTF-8"},
		WorkingDir:   "/work",
		User:         "1000:1000",
		ExposedPorts: []string{"80", "53/udp"},
		Labels:       map[string]string{"a": "1"},
		Platform:     v1.Platform{Architecture: "arm64"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Fatalf("media types = %s / %s, want OCI", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 3 {
		t.Fatalf("manifest has %d layers, want 3", len(m.Layers))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range m.Layers {
		want := layers[i].Meta
		if d.Annotations[AnnotationKey] != want.Key || d.Annotations[AnnotationLayer] != want.Name {
			t.Errorf("layer %d annotations = %v", i, d.Annotations)
		}
		wd, _ := layers[i].Layer.Digest()
		if d.Digest != wd {
			t.Errorf("layer %d digest %s, want %s", i, d.Digest, wd)
		}
		wdiff, _ := layers[i].Layer.DiffID()
		if cf.RootFS.DiffIDs[i] != wdiff {
			t.Errorf("layer %d diffID %s, want %s", i, cf.RootFS.DiffIDs[i], wdiff)
		}
		h := cf.History[i]
		if h.CreatedBy != "nix-layer-action layer "+want.Name {
			t.Errorf("history %d created_by = %q", i, h.CreatedBy)
		}
		var got LayerMeta
		if err := json.Unmarshal([]byte(h.Comment), &got); err != nil {
			t.Fatalf("history %d comment not JSON: %v", i, err)
		}
		if got.Name != want.Name || got.Key != want.Key || len(got.Paths) != 1 || got.Paths[0] != want.Paths[0] || got.Truncated {
			t.Errorf("history %d comment = %+v, want %+v", i, got, want)
		}
		if !strings.Contains(h.Comment, `"narSize":`) || strings.Contains(h.Comment, "\n") {
			t.Errorf("comment not compact JSON with narSize: %s", h.Comment)
		}
		if !h.Created.Time.Equal(time.Unix(1, 0)) {
			t.Errorf("history created = %v", h.Created)
		}
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" {
		t.Errorf("os/arch = %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(time.Unix(1, 0)) {
		t.Errorf("created = %v, want Unix 1", cf.Created)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/nix/store/x-hello/bin/hello" || strings.Join(c.Cmd, " ") != "--greeting hi" {
		t.Errorf("entrypoint/cmd = %q %q", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/work" || c.User != "1000:1000" {
		t.Errorf("workdir/user = %q %q", c.WorkingDir, c.User)
	}
	if strings.Join(c.Env, ";") != "PATH=/nix/store/x-hello/bin;LANG=C.UTF-8" {
		t.Errorf("env = %q", c.Env)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed ports = %v, want 80/tcp", c.ExposedPorts)
	}
	if _, ok := c.ExposedPorts["53/udp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports = %v", c.ExposedPorts)
	}
	if c.Labels["a"] != "1" || c.Labels[LabelPlanVersion] != "1" {
		t.Errorf("labels = %v", c.Labels)
	}
}

func TestAssembleDeterministic(t *testing.T) {
	cfg := ConfigOptions{
		Env:    []string{"A=1", "B=2"},
		Labels: map[string]string{"z": "1", "y": "2", "x": "3", "w": "4", "v": "5", "u": "6"},
		// Ports are a map internally; order must not leak.
		ExposedPorts: []string{"1", "2", "3", "4", "5", "6"},
		Platform:     v1.Platform{Architecture: "amd64"},
	}
	d := func() v1.Hash {
		// Fresh layer objects each time: equal content must give equal bytes.
		img, err := Assemble(nil, testNamed(t, 3), cfg)
		if err != nil {
			t.Fatal(err)
		}
		h, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := d()
	for i := 0; i < 5; i++ {
		if got := d(); got != first {
			t.Fatalf("assembly %d digest %s != %s", i, got, first)
		}
	}
	// And it must depend on the inputs.
	cfg.Env = []string{"A=1", "B=3"}
	if d() == first {
		t.Fatal("different env gave the same digest")
	}
}

func TestAssembleMergesOntoBase(t *testing.T) {
	base, err := Assemble(nil, testNamed(t, 1), ConfigOptions{
		Env:          []string{"PATH=/usr/bin:/bin", "FOO=base", "KEEP=1"},
		Cmd:          []string{"sh"},
		WorkingDir:   "/base",
		User:         "nobody",
		ExposedPorts: []string{"8080"},
		Labels:       map[string]string{"from": "base", "shared": "base"},
		Platform:     v1.Platform{Architecture: "amd64"},
	})
	if err != nil {
		t.Fatal(err)
	}
	top := testNamed(t, 3)[1:]
	img, err := Assemble(base, top, ConfigOptions{
		Env:    []string{"FOO=plan", "PATH=/nix/store/a-x/bin", "NEW=n"},
		Labels: map[string]string{"shared": "plan"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := "PATH=/nix/store/a-x/bin:/usr/bin:/bin;FOO=plan;KEEP=1;NEW=n"
	if got := strings.Join(cf.Config.Env, ";"); got != wantEnv {
		t.Errorf("env = %s\nwant  %s", got, wantEnv)
	}
	if strings.Join(cf.Config.Cmd, " ") != "sh" || cf.Config.WorkingDir != "/base" || cf.Config.User != "nobody" {
		t.Errorf("unset plan fields must keep the base: cmd=%q wd=%q user=%q", cf.Config.Cmd, cf.Config.WorkingDir, cf.Config.User)
	}
	if cf.Architecture != "amd64" {
		t.Errorf("arch = %q, want base's amd64", cf.Architecture)
	}
	if cf.Config.Labels["from"] != "base" || cf.Config.Labels["shared"] != "plan" {
		t.Errorf("labels = %v", cf.Config.Labels)
	}
	if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("base port lost: %v", cf.Config.ExposedPorts)
	}
	if len(cf.RootFS.DiffIDs) != 3 || len(cf.History) != 3 {
		t.Fatalf("diffIDs=%d history=%d, want 3 each", len(cf.RootFS.DiffIDs), len(cf.History))
	}
	m, _ := img.Manifest()
	if m.Layers[0].Annotations[AnnotationLayer] != "layer-0" || m.Layers[2].Annotations[AnnotationLayer] != "layer-2" {
		t.Errorf("layer order/annotations wrong: %v / %v", m.Layers[0].Annotations, m.Layers[2].Annotations)
	}

	// A plan entrypoint replaces the base's, and resets the base's cmd.
	img2, err := Assemble(base, nil, ConfigOptions{Entrypoint: []string{"/bin/app"}, User: "1:1", WorkingDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	cf2, _ := img2.ConfigFile()
	if strings.Join(cf2.Config.Entrypoint, " ") != "/bin/app" || len(cf2.Config.Cmd) != 0 || cf2.Config.User != "1:1" || cf2.Config.WorkingDir != "/w" {
		t.Errorf("override: %+v", cf2.Config)
	}
}

// An empty path list (a root layer with no store paths of its own) is
// written as [] and read back as a recorded list, unlike null or none.
func TestCommentEmptyPathList(t *testing.T) {
	c, err := commentJSON(LayerMeta{Name: "root", Key: testKey(0)})
	if err != nil {
		t.Fatal(err)
	}
	got := parseComment(c)
	if got == nil || !got.RecordsPaths() || len(got.Paths) != 0 {
		t.Fatalf("%s parsed as %+v, want a recorded empty list", c, got)
	}
	for _, c := range []string{
		`{"name":"root","key":"` + testKey(0) + `","paths":null}`,
		`{"name":"root","key":"` + testKey(0) + `"}`,
	} {
		if got := parseComment(c); got == nil || got.RecordsPaths() {
			t.Errorf("%s parsed as %+v, want no recorded list", c, got)
		}
	}
}

func TestCommentTruncated(t *testing.T) {
	var paths []PathSize
	for i := 0; i < 5000; i++ {
		paths = append(paths, PathSize{Path: fmt.Sprintf("/nix/store/%032d-%s", i, strings.Repeat("n", 60)), NarSize: int64(i)})
	}
	meta := LayerMeta{Name: "big", Key: testKey(0), Paths: paths}
	c, err := commentJSON(meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) > MaxCommentBytes {
		t.Fatalf("comment is %d bytes, limit %d", len(c), MaxCommentBytes)
	}
	got := parseComment(c)
	if got == nil || !got.Truncated || got.Key != meta.Key {
		t.Fatalf("parsed = %+v", got)
	}
	if len(got.Paths) == 0 || len(got.Paths) >= len(paths) {
		t.Fatalf("kept %d of %d paths", len(got.Paths), len(paths))
	}
	for i, p := range got.Paths {
		if p != paths[i] {
			t.Fatalf("path %d = %v, want prefix of input", i, p)
		}
	}
	// The largest prefix that fits: one more path would overflow.
	meta.Paths = paths[:len(got.Paths)+1]
	meta.Truncated = true
	b, _ := json.Marshal(meta)
	if len(b) <= MaxCommentBytes {
		t.Fatalf("truncated more than needed: %d paths + 1 is %d bytes", len(got.Paths), len(b))
	}

	small, _ := commentJSON(LayerMeta{Name: "s", Key: testKey(1)})
	if small != `{"name":"s","key":"`+testKey(1)+`","paths":[]}` {
		t.Errorf("small comment = %s", small)
	}
}

func TestPlatformFromSystem(t *testing.T) {
	for sys, want := range map[string]string{"x86_64-linux": "linux/amd64", "aarch64-linux": "linux/arm64", "riscv64-linux": "linux/riscv64", "armv7l-linux": "linux/arm/v7"} {
		got, err := PlatformFromSystem(sys)
		if err != nil || got.String() != want {
			t.Errorf("PlatformFromSystem(%q) = %q, %v; want %q", sys, got.String(), err, want)
		}
	}
	for _, bad := range []string{"x86_64-darwin", "aarch64-darwin", "", "linux", "mips-linux"} {
		if got, err := PlatformFromSystem(bad); err == nil {
			t.Errorf("PlatformFromSystem(%q) = %q, want error", bad, got.String())
		}
	}
}
