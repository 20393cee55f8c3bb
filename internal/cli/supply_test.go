package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/org/nix-layer-action/internal/testutil/cdxschema"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
)

// examplePlan builds without Nix: a bundled closure graph and store tree.
const examplePlan = "../../examples/quickstart/nix-layers.yaml"

func runBuild(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"RUNNER_TEMP": t.TempDir()}
	err := Run(context.Background(), append([]string{"build", "--plan", examplePlan}, args...),
		Env{Getenv: func(k string) string { return env[k] }, Stdout: &stdout, Stderr: &stderr})
	return stderr.String(), err
}

type sbomDoc struct {
	Metadata struct {
		Component struct {
			Name   string `json:"name"`
			Hashes []struct {
				Content string `json:"content"`
			} `json:"hashes"`
		} `json:"component"`
	} `json:"metadata"`
	Components []struct {
		BOMRef string `json:"bom-ref"`
	} `json:"components"`
}

func readSBOM(t *testing.T, file string) sbomDoc {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := cdxschema.Validate(t, data); err != nil {
		t.Fatalf("%s does not validate: %v", file, err)
	}
	var d sbomDoc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("SBOM mode %v, want 0644 (others read it)", info.Mode().Perm())
	}
	return d
}

func TestBuildAnnotationLabelAndSBOMToOCILayout(t *testing.T) {
	dir := t.TempDir()
	oci, sbomFile, rep := filepath.Join(dir, "oci"), filepath.Join(dir, "image.cdx.json"), filepath.Join(dir, "r.json")
	if stderr, err := runBuild(t, "--output", "oci:"+oci, "--image", "ghcr.io/o/r:v1", "--report", rep, "--sbom", sbomFile,
		"--annotation", "org.opencontainers.image.source=https://github.com/o/r", "--annotation", "a=b=c",
		"--label", "team=ml"); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	var r struct {
		Digest string
		Layers []struct{ Paths []string }
	}
	data, _ := os.ReadFile(rep)
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(rep); err != nil {
		t.Fatal(err)
	} else if info.Mode().Perm() != 0o644 {
		t.Errorf("report mode %v, want 0644 (later steps read it)", info.Mode().Perm())
	}
	p, err := layout.FromPath(oci)
	if err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(r.Digest, "sha256:")})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if m.Annotations["org.opencontainers.image.source"] != "https://github.com/o/r" || m.Annotations["a"] != "b=c" {
		t.Errorf("manifest annotations %v", m.Annotations)
	}
	cf, _ := img.ConfigFile()
	if cf.Config.Labels["team"] != "ml" || cf.Config.Labels["org.opencontainers.image.title"] != "nix-layer-action example" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	d := readSBOM(t, sbomFile)
	n := 0
	for _, l := range r.Layers {
		n += len(l.Paths)
	}
	if len(d.Components) != n || n != 3 || d.Metadata.Component.Name != "ghcr.io/o/r" ||
		len(d.Metadata.Component.Hashes) != 1 || "sha256:"+d.Metadata.Component.Hashes[0].Content != r.Digest {
		t.Errorf("SBOM: %d components for %d paths, subject %+v, digest %s", len(d.Components), n, d.Metadata.Component, r.Digest)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestBuildSBOMWithoutPushAndToDockerArchive(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"push=false":     {"--push=false"},
		"docker-archive": {"--output", "docker-archive:" + filepath.Join(dir, "image.tar")},
	} {
		file := filepath.Join(dir, name+".cdx.json")
		if stderr, err := runBuild(t, append(args, "--sbom", file)...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		if d := readSBOM(t, file); len(d.Components) != 3 {
			t.Errorf("%s: %d components", name, len(d.Components))
		}
	}
}

func TestBuildSupplyFlagErrorsBeforeWork(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"annotation without =": {[]string{"--annotation", "novalue"}, "--annotation"},
		"label without key":    {[]string{"--label", "=v"}, "--label"},
		"sbom dir missing":     {[]string{"--sbom", filepath.Join(dir, "no", "such", "x.json")}, "--sbom"},
	} {
		oci := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		_, err := runBuild(t, append(tc.args, "--output", "oci:"+oci)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %s", name, err, tc.want)
		}
		if _, serr := os.Stat(oci); serr == nil {
			t.Errorf("%s: the image was written before the flag error", name)
		}
	}
}

// TestRegistryRequestsCarryTheVersion: every request a push sends names
// the tool and its version, so a registry operator can tell releases apart.
func TestRegistryRequestsCarryTheVersion(t *testing.T) {
	old := version
	defer func() { version = old }()
	version = "v9.8.7"
	reg := memregistry.Start(t)
	host := reg.Host
	if stderr, err := runBuild(t, "--image", host+"/ua/test:v1"); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	agents := reg.UserAgents()
	if len(agents) == 0 {
		t.Fatal("no request reached the registry")
	}
	for ua, n := range agents {
		if !strings.HasPrefix(ua, "nix-layer-action/v9.8.7") {
			t.Errorf("%d requests with User-Agent %q, want nix-layer-action/v9.8.7 first", n, ua)
		}
	}
}
