package e2e

// Supply-chain metadata end to end: OCI annotations and labels on what the
// real registry serves (skopeo inspect --raw / --config), the CycloneDX
// SBOM against the official schema and against Nix's own closure, the
// action's GitHub-context defaults from a real git checkout, and the merge
// carrying shared annotations to the index.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/cdxschema"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// rawManifest is what skopeo inspect --raw shows of a manifest or index.
type rawManifest struct {
	MediaType   string            `json:"mediaType"`
	Annotations map[string]string `json:"annotations"`
}

// supplyConfig is what skopeo inspect --config shows.
type supplyConfig struct {
	Created string `json:"created"`
	Config  struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
}

// cdxDoc is the part of the SBOM the tests compare.
type cdxDoc struct {
	Metadata struct {
		Timestamp string `json:"timestamp"`
		Component struct {
			BOMRef string `json:"bom-ref"`
			Name   string `json:"name"`
			Purl   string `json:"purl"`
			Hashes []struct {
				Content string `json:"content"`
			} `json:"hashes"`
		} `json:"component"`
	} `json:"metadata"`
	Components []struct {
		BOMRef string `json:"bom-ref"`
		Name   string `json:"name"`
		Hashes []struct {
			Alg     string `json:"alg"`
			Content string `json:"content"`
		} `json:"hashes"`
	} `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
}

// readSBOMFile validates an SBOM against the CycloneDX 1.6 schema and
// decodes it.
func readSBOMFile(t *testing.T, file string) (cdxDoc, []byte) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := cdxschema.Validate(t, data); err != nil {
		t.Fatalf("SBOM %s does not validate against the CycloneDX 1.6 schema: %v", file, err)
	}
	var d cdxDoc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d, data
}

// checkSBOMAgainstNix compares the SBOM with `nix path-info --recursive`
// of the image's roots: the components are exactly the closure, each
// with its NAR hash (converted to hex by nix itself), and the
// dependencies exactly the references.
func checkSBOMAgainstNix(t *testing.T, d cdxDoc, g *closure.Graph, digest string) {
	t.Helper()
	var got, narHashes []string
	for _, p := range g.Paths() {
		info, _ := g.Info(p)
		narHashes = append(narHashes, info.NarHash)
	}
	hexes := strings.Fields(run(t, "nix", append([]string{"hash", "to-base16", "--type", "sha256"}, narHashes...)...))
	if len(hexes) != len(narHashes) {
		t.Fatalf("nix hash to-base16 gave %d hashes for %d", len(hexes), len(narHashes))
	}
	wantHex := map[string]string{}
	for i, p := range g.Paths() {
		wantHex[p] = hexes[i]
	}
	for _, c := range d.Components {
		got = append(got, c.BOMRef)
		if len(c.Hashes) != 1 || c.Hashes[0].Alg != "SHA-256" || c.Hashes[0].Content != wantHex[c.BOMRef] {
			t.Errorf("%s: hashes %+v, want SHA-256 %s", c.BOMRef, c.Hashes, wantHex[c.BOMRef])
		}
	}
	if want := g.Paths(); !slices.Equal(got, want) {
		t.Errorf("SBOM components:\n %v\nnix path-info -r:\n %v", got, want)
	}
	seen := 0
	for _, dep := range d.Dependencies {
		info, ok := g.Info(dep.Ref)
		if !ok {
			if dep.Ref != d.Metadata.Component.BOMRef {
				t.Errorf("dependency entry for %s, neither a store path nor the image", dep.Ref)
			}
			continue
		}
		seen++
		refs := slices.DeleteFunc(slices.Clone(info.References), func(r string) bool { return r == dep.Ref })
		slices.Sort(refs)
		if !slices.Equal(dep.DependsOn, refs) {
			t.Errorf("%s dependsOn %v, nix references %v", dep.Ref, dep.DependsOn, refs)
		}
	}
	if seen != len(g.Paths()) {
		t.Errorf("%d dependency entries for %d paths", seen, len(g.Paths()))
	}
	if h := d.Metadata.Component.Hashes; len(h) != 1 || "sha256:"+h[0].Content != digest {
		t.Errorf("SBOM subject hashes %+v, image digest %s", h, digest)
	}
}

func seedRoots(out map[string]string) []string {
	return []string{out["baseTools"], out["cuda"], out["torch"], out["pak1"], out["pak2"], out["pak3"], out["app"], out["busybox"]}
}

func TestE2ESupplyChainCLI(t *testing.T) {
	testutil.Short(t)
	_, out, planFile := setupSeed(t, nixfix.Options{Packages: 3})
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("e2e/supply:latest")
	dir := t.TempDir()
	meta := []string{
		"--annotation", "org.opencontainers.image.source=https://github.com/org/repo",
		"--annotation", "org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567",
		"--label", "org.opencontainers.image.source=https://github.com/org/repo",
		"--label", "org.example.test=overridden by the plan",
	}
	env := map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}
	build := func(name string, extra ...string) (*cliReport, string) {
		t.Helper()
		rep, sbom := filepath.Join(dir, name+".json"), filepath.Join(dir, name+".cdx.json")
		r, _ := mustBuildReport(t, env, planFile, append([]string{"--report", rep, "--sbom", sbom}, append(extra, meta...)...)...)
		return r, sbom
	}

	r1, sbom1 := build("push", "--image", ref)
	var m rawManifest
	skopeoJSON(t, &m, "--raw", "docker://"+ref)
	if m.Annotations["org.opencontainers.image.source"] != "https://github.com/org/repo" ||
		m.Annotations["org.opencontainers.image.revision"] != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("manifest annotations in the registry: %v", m.Annotations)
	}
	var cfg supplyConfig
	skopeoJSON(t, &cfg, "--config", "docker://"+ref)
	if cfg.Config.Labels["org.opencontainers.image.source"] != "https://github.com/org/repo" ||
		cfg.Config.Labels["org.example.test"] != "e2e" || cfg.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("config in the registry: created %s, labels %v (the plan's label must win)", cfg.Created, cfg.Config.Labels)
	}

	// The SBOM: valid CycloneDX, exactly Nix's closure and references.
	n := nixfix.Runner(t, t.TempDir())
	g, err := n.PathInfo(context.Background(), seedRoots(out))
	if err != nil {
		t.Fatal(err)
	}
	d1, bytes1 := readSBOMFile(t, sbom1)
	checkSBOMAgainstNix(t, d1, g, r1.Digest)
	var reportPaths []string
	for _, l := range r1.Layers {
		reportPaths = append(reportPaths, l.Paths...)
	}
	slices.Sort(reportPaths)
	if !slices.Equal(reportPaths, g.Paths()) {
		t.Errorf("the report's layers hold %d paths, the closure has %d", len(reportPaths), len(g.Paths()))
	}
	if d1.Metadata.Component.Name != reg.Ref("e2e/supply") || d1.Metadata.Timestamp != "2023-11-14T22:13:20Z" ||
		!strings.HasPrefix(d1.Metadata.Component.Purl, "pkg:oci/supply@sha256:") {
		t.Errorf("SBOM subject %+v, timestamp %s", d1.Metadata.Component, d1.Metadata.Timestamp)
	}

	// Reproducible: the same inputs give the same digest and the same SBOM,
	// rebuilt from scratch into an OCI layout and with nothing pushed.
	r2, sbom2 := build("layout", "--image", ref, "--output", "oci:"+filepath.Join(dir, "oci"))
	if r2.Digest != r1.Digest {
		t.Errorf("OCI layout digest %s, registry %s: the metadata is not reproducible", r2.Digest, r1.Digest)
	}
	if _, bytes2 := readSBOMFile(t, sbom2); string(bytes2) != string(bytes1) {
		t.Error("the same build gave two different SBOMs")
	}
	r3, sbom3 := build("nopush", "--image", ref, "--push=false")
	if r3.Digest != r1.Digest {
		t.Errorf("--push=false digest %s, want %s", r3.Digest, r1.Digest)
	}
	readSBOMFile(t, sbom3)
	r4, sbom4 := build("archive", "--output", "docker-archive:"+filepath.Join(dir, "image.tar"))
	d4, _ := readSBOMFile(t, sbom4)
	checkSBOMAgainstNix(t, d4, g, r4.Digest)

	// Another annotation value is another digest: the annotation is in
	// the manifest, not beside it.
	meta[1] = "org.opencontainers.image.source=https://github.com/org/other"
	if r5, _ := build("other", "--image", ref, "--push=false"); r5.Digest == r1.Digest {
		t.Error("a different annotation left the digest unchanged")
	}
}

// gitCheckout makes dir a git repository with one commit at the given
// committer time, as actions/checkout leaves the workspace, and returns the
// commit id.
func gitCheckout(t *testing.T, dir string, when time.Time) string {
	t.Helper()
	git := testutil.RequireTool(t, "git")
	env := append(os.Environ(), "GIT_AUTHOR_DATE=2001-01-01T00:00:00Z", "GIT_COMMITTER_DATE="+when.Format(time.RFC3339),
		"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=c", "GIT_COMMITTER_EMAIL=c@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	gitRun := func(args ...string) string {
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = dir, env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
		return strings.TrimSpace(string(b))
	}
	gitRun("init", "-q")
	gitRun("add", ".")
	gitRun("commit", "-q", "-m", "image plan")
	return gitRun("rev-parse", "HEAD")
}

func TestE2ESupplyChainAction(t *testing.T) {
	testutil.Short(t)
	_, out, planFile := setupSeed(t, nixfix.Options{Packages: 3})
	reg := registry.Start(t, registry.Options{})
	image := reg.Ref("org/repo")
	workspace := filepath.Dir(planFile)
	when := time.Date(2025, 11, 20, 10, 1, 2, 0, time.UTC)
	sha := gitCheckout(t, workspace, when)
	event := filepath.Join(t.TempDir(), "push.json")
	payload := `{"ref":"refs/tags/v1.4.0","head_commit":{"id":"` + sha + `","timestamp":"1999-01-01T00:00:00Z"},
 "repository":{"name":"repo","full_name":"org/repo","description":"An image built with Nix","license":{"key":"mit","spdx_id":"MIT"}}}`
	if err := os.WriteFile(event, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": event, "GITHUB_WORKSPACE": workspace,
		"GITHUB_SHA": sha, "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.4.0",
		"INPUT_IMAGE": image + ":v1.4.0",
	}
	first := runActionEnv(t, env)
	if first.err != nil {
		t.Fatalf("action: %v\nstdout:\n%s\nstderr:\n%s", first.err, first.stdout, first.stderr)
	}
	digest := first.outputs["digest"]
	want := map[string]string{
		"org.opencontainers.image.source":      "https://github.com/org/repo",
		"org.opencontainers.image.revision":    sha,
		"org.opencontainers.image.created":     "2025-11-20T10:01:02Z", // git's, not the payload's
		"org.opencontainers.image.title":       "repo",
		"org.opencontainers.image.description": "An image built with Nix",
		"org.opencontainers.image.licenses":    "MIT",
		"org.opencontainers.image.version":     "v1.4.0",
	}
	var m rawManifest
	skopeoJSON(t, &m, "--raw", "docker://"+image+"@"+digest)
	var cfg supplyConfig
	skopeoJSON(t, &cfg, "--config", "docker://"+image+"@"+digest)
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	if cfg.Created != "2025-11-20T10:01:02Z" {
		t.Errorf("config created %s, want the commit's time", cfg.Created)
	}

	// The sbom output is relative to the workspace, where the file is.
	if first.outputs["sbom"] != "nix-layer-action.cdx.json" {
		t.Fatalf("sbom output %q", first.outputs["sbom"])
	}
	d, _ := readSBOMFile(t, filepath.Join(workspace, first.outputs["sbom"]))
	g, err := nixfix.Runner(t, t.TempDir()).PathInfo(context.Background(), seedRoots(out))
	if err != nil {
		t.Fatal(err)
	}
	checkSBOMAgainstNix(t, d, g, digest)
	if d.Metadata.Component.Name != image || d.Metadata.Timestamp != "2025-11-20T10:01:02Z" {
		t.Errorf("SBOM subject %+v, timestamp %s", d.Metadata.Component, d.Metadata.Timestamp)
	}

	// A rerun of the same commit is bit-identical: nothing pushed.
	again := runActionEnv(t, env)
	if again.err != nil {
		t.Fatalf("rerun: %v\n%s", again.err, again.stdout)
	}
	if again.outputs["digest"] != digest || again.outputs["changed"] != "false" || again.outputs["bytes-pushed"] != "0" {
		t.Errorf("rerun of the same commit: %v (first digest %s)", again.outputs, digest)
	}

	// An input overrides a default, in the label and the annotation alike;
	// a custom sbom-path is written and output.
	env["INPUT_LABELS"] = "org.opencontainers.image.title=Custom title"
	env["INPUT_SBOM-PATH"] = "out/sbom.json"
	if err := os.Mkdir(filepath.Join(workspace, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	custom := runActionEnv(t, env)
	if custom.err != nil {
		t.Fatalf("custom: %v\n%s", custom.err, custom.stdout)
	}
	skopeoJSON(t, &m, "--raw", "docker://"+image+"@"+custom.outputs["digest"])
	skopeoJSON(t, &cfg, "--config", "docker://"+image+"@"+custom.outputs["digest"])
	if m.Annotations["org.opencontainers.image.title"] != "Custom title" || cfg.Config.Labels["org.opencontainers.image.title"] != "Custom title" {
		t.Errorf("labels input: annotation %q, label %q", m.Annotations["org.opencontainers.image.title"], cfg.Config.Labels["org.opencontainers.image.title"])
	}
	if custom.outputs["sbom"] != "out/sbom.json" {
		t.Errorf("sbom output %q", custom.outputs["sbom"])
	}
	readSBOMFile(t, filepath.Join(workspace, "out", "sbom.json"))
}

// TestE2ESupplyChainMergeKeepsSharedAnnotations: the per-platform builds
// of one commit carry the same annotations, and merge puts them on the
// index (where GHCR reads source and description for a multi-arch
// image); each platform's SBOM names its architecture.
func TestE2ESupplyChainMergeKeepsSharedAnnotations(t *testing.T) {
	f := newMultiFixture(t)
	tag := f.repo + ":latest"
	dir := t.TempDir()
	meta := []string{
		"--annotation", "org.opencontainers.image.source=https://github.com/org/repo",
		"--annotation", "org.opencontainers.image.created=2025-11-20T10:01:02Z",
		"--annotation", "org.opencontainers.image.description=multi",
	}
	amd := multiBuild(t, f.plan, tag, append([]string{"--push-by-digest", "--sbom", filepath.Join(dir, "amd64.json")}, meta...)...)
	arm := multiBuild(t, f.plan, tag, append([]string{"--push-by-digest", "--system", "aarch64-linux", "--sbom", filepath.Join(dir, "arm64.json")}, meta...)...)
	if _, stderr, err := runCLI(t, multiEnv, "merge", "--image", tag, amd.Digest, arm.Digest); err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	var idx rawManifest
	skopeoJSON(t, &idx, "--raw", "docker://"+tag)
	for _, kv := range meta {
		if kv == "--annotation" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if idx.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q (index: %v)", k, idx.Annotations[k], v, idx.Annotations)
		}
	}
	for arch, rep := range map[string]*cliReport{"amd64": amd, "arm64": arm} {
		d, _ := readSBOMFile(t, filepath.Join(dir, arch+".json"))
		if !strings.Contains(d.Metadata.Component.Purl, "arch="+arch) || "sha256:"+d.Metadata.Component.Hashes[0].Content != rep.Digest {
			t.Errorf("%s SBOM subject %+v, digest %s", arch, d.Metadata.Component, rep.Digest)
		}
	}
}
