package e2e

// End-to-end tests of the image-contents features (issue 4) with real
// parts: a small flake of real Nix derivations (nixfix.ContentsFlake,
// written per test), the real CNCF registry, skopeo/umoci unpacking and
// podman running what we push. Each test checks the image itself, not only
// our report. This file holds the shared helpers; the tests are split by
// feature into contents_<feature>_test.go (users, rootenv, nixdb, from,
// split, auto, perms, rootkeys).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

// contentsPaks is the number of small packages pk1..pkN in the contents
// flake (nixfix.ContentsFlakeNix).
const contentsPaks = nixfix.ContentsPaks

// contentsFixture writes the contents flake into a fresh temp dir.
func contentsFixture(t *testing.T, versions map[string]string) *nixfix.Fixture {
	t.Helper()
	return nixfix.ContentsFlake(t, versions)
}

// writePlan writes a plan file into a fresh temp dir.
func writePlan(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// buildCLI runs `build` and returns the report; a failure fails the test.
func buildCLI(t *testing.T, planFile, ref string, extra ...string) *cliReport {
	t.Helper()
	return buildCLIEnv(t, nil, planFile, ref, extra...)
}

// buildCLIEnv is buildCLI with the CLI's environment.
func buildCLIEnv(t *testing.T, env map[string]string, planFile, ref string, extra ...string) *cliReport {
	t.Helper()
	r, _ := mustBuildReport(t, env, planFile, append([]string{"--image", ref}, extra...)...)
	return r
}

// planJSON is `plan --json` output.
type planJSON struct {
	Layers []struct {
		Name    string   `json:"name"`
		Group   string   `json:"group"`
		Key     string   `json:"key"`
		NarSize int64    `json:"narSize"`
		Empty   bool     `json:"empty"`
		Paths   []string `json:"paths"`
	} `json:"layers"`
}

func planCLI(t *testing.T, planFile string) *planJSON {
	t.Helper()
	stdout, stderr, err := runCLI(t, nil, "plan", "--plan", planFile, "--json")
	if err != nil {
		t.Fatalf("plan %s: %v\nstderr:\n%s", planFile, err, stderr)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, stdout)
	}
	return &p
}

// unpackImage pulls ref with skopeo into an OCI layout and unpacks it with
// umoci (as root: ownership is kept); it returns the rootfs directory.
func unpackImage(t *testing.T, ref string) string {
	t.Helper()
	skopeo := testutil.RequireTool(t, "skopeo")
	umoci := testutil.RequireTool(t, "umoci")
	dir := t.TempDir()
	oci := filepath.Join(dir, "oci")
	run(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+oci+":img")
	verifyBlobs(t, oci)
	bundle := filepath.Join(dir, "bundle")
	run(t, umoci, "unpack", "--image", oci+":img", bundle)
	t.Cleanup(func() { makeTreeWritable(bundle) })
	return filepath.Join(bundle, "rootfs")
}

// makeTreeWritable lets t.TempDir's cleanup remove read-only store copies.
func makeTreeWritable(root string) {
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Type()&os.ModeSymlink == 0 {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func podmanRun(t *testing.T, args ...string) string {
	t.Helper()
	podman := testutil.RequireTool(t, "podman")
	full := append([]string{"run", "--rm", "--runtime", "runc", "--tls-verify=false", "--pull=always"}, args...)
	return run(t, podman, full...)
}

func layerNames(r *cliReport) []string {
	var out []string
	for _, l := range r.Layers {
		out = append(out, l.Name+"("+l.Status+")")
	}
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
