package e2e

// Every output destination (report, SBOM, step outputs, job summary) is
// checked before any work; one that still fails after publishing says the
// image was published, with its digest, and exits 3 (issue 17 item 4).

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// exitPublished is the documented exit status of a run that published the
// image but could not write something that describes it (README).
const exitPublished = 3

// onFullFS returns a command running bin with args in a private mount
// namespace where dir is a tmpfs filled to its last block: a file can
// still be created there (an empty file needs no block), so every check
// before the build passes, but nothing can be written into it — a disk
// that fills while the image builds and uploads.
func onFullFS(t *testing.T, dir, bin string, args ...string) *exec.Cmd {
	t.Helper()
	unshare := testutil.RequireTool(t, "unshare")
	script := `mount -t tmpfs -o size=64k tmpfs "$1" && { cat /dev/zero >"$1/fill" 2>/dev/null; shift; exec "$@"; }`
	flags := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		flags = append(flags, "--map-root-user")
	}
	return exec.Command(unshare, append(append(flags, "sh", "-c", script, "sh", dir, bin), args...)...)
}

// exitCode is a finished command's exit status (-1 when it did not exit).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// TestReliabilityOutputsRefusedBeforeWork: a --report or --sbom that cannot be
// written (its directory missing, or the path a directory) is refused
// before anything is built or uploaded: the registry has no tag.
func TestReliabilityOutputsRefusedBeforeWork(t *testing.T) {
	bin := buildBinary(t)
	reg := registry.Start(t, registry.Options{})
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	isDir := t.TempDir()
	for _, tc := range []struct{ name, flag, path string }{
		{"report-missing-dir", "--report", filepath.Join(t.TempDir(), "missing", "r.json")},
		{"report-is-dir", "--report", isDir},
		{"sbom-missing-dir", "--sbom", filepath.Join(t.TempDir(), "missing", "sbom.json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := "out/" + tc.name
			out, err := exec.Command(bin, "build", "--plan", planFile, "--image", reg.Ref(repo+":latest"),
				"--temp-dir", t.TempDir(), tc.flag, tc.path).CombinedOutput()
			if code := exitCode(err); code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			if !strings.Contains(string(out), "build: "+tc.flag+":") {
				t.Errorf("error does not name %s:\n%s", tc.flag, out)
			}
			if d := tagDigest(t, reg, repo, "latest"); d != "" {
				t.Errorf("tag moved to %s although %s was refused:\n%s", d, tc.flag, out)
			}
			if cat, _ := registryCatalog(reg); strings.Contains(cat, repo) {
				t.Errorf("something was uploaded to %s: catalog %s", repo, cat)
			}
		})
	}
}

// TestReliabilityReportFailsAfterPublish: the report's file system fills
// while the image is pushed; the run says the image was published, with
// the reference and digest the tag now holds, and exits 3.
func TestReliabilityReportFailsAfterPublish(t *testing.T) {
	bin := buildBinary(t)
	reg := registry.Start(t, registry.Options{})
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	const repo = "out/full"
	dir := t.TempDir()
	cmd := onFullFS(t, dir, bin, "build", "--plan", planFile, "--image", reg.Ref(repo+":latest"),
		"--temp-dir", t.TempDir(), "--report", filepath.Join(dir, "r.json"))
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != exitPublished {
		t.Fatalf("exit %d, want %d:\n%s", code, exitPublished, out)
	}
	digest := tagDigest(t, reg, repo, "latest")
	if digest == "" {
		t.Fatalf("no tag after the push:\n%s", out)
	}
	want := "published " + reg.Ref(repo) + "@" + digest + ", but writing report:"
	if !strings.Contains(string(out), want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
	if !strings.Contains(string(out), "no space left on device") {
		t.Errorf("output does not say why the report failed:\n%s", out)
	}
}

// TestReliabilityActionOutputsRefusedBeforeWork: in action mode, a
// GITHUB_OUTPUT, GITHUB_STEP_SUMMARY or sbom-path that cannot be written is
// refused before the build: an error annotation naming it, and no tag.
func TestReliabilityActionOutputsRefusedBeforeWork(t *testing.T) {
	reg := registry.Start(t, registry.Options{})
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	for _, tc := range []struct{ v, says string }{
		{"GITHUB_OUTPUT", "::error::GITHUB_OUTPUT cannot be written"},
		{"GITHUB_STEP_SUMMARY", "::error::GITHUB_STEP_SUMMARY cannot be written"},
		{"INPUT_SBOM-PATH", "::error::input sbom-path: "},
	} {
		v := tc.v
		t.Run(v, func(t *testing.T) {
			repo := "out/action-" + strings.ToLower(v)
			r := runActionEnv(t, map[string]string{
				"GITHUB_EVENT_NAME": "push", "GITHUB_WORKSPACE": filepath.Dir(planFile),
				"INPUT_PLAN": "nix-layers.yaml", "INPUT_IMAGE": reg.Ref(repo + ":latest"),
				v: filepath.Join(t.TempDir(), "missing", "file"),
			})
			if r.err == nil {
				t.Fatalf("accepted an unwritable %s:\n%s", v, r.stdout)
			}
			if !strings.Contains(r.stdout, tc.says) {
				t.Errorf("no error annotation naming %s:\n%s", v, r.stdout)
			}
			if d := tagDigest(t, reg, repo, "latest"); d != "" {
				t.Errorf("tag moved to %s although %s cannot be written", d, v)
			}
		})
	}
}

// TestReliabilityActionSummaryFailsAfterPublish: in action mode the summary's
// file system fills during the run: the step outputs still carry the
// digest, an error annotation says the image was published, and the
// binary exits 3.
func TestReliabilityActionSummaryFailsAfterPublish(t *testing.T) {
	bin := buildBinary(t)
	reg := registry.Start(t, registry.Options{})
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 64<<10), "")
	const repo = "out/action-full"
	full, outDir := t.TempDir(), t.TempDir()
	outFile := filepath.Join(outDir, "output")
	cmd := onFullFS(t, full, bin)
	cmd.Env = append(os.Environ(),
		"GITHUB_ACTIONS=true", "GITHUB_EVENT_NAME=push", "GITHUB_REPOSITORY=org/repo",
		"GITHUB_WORKSPACE="+filepath.Dir(planFile), "RUNNER_TEMP="+t.TempDir(),
		"GITHUB_OUTPUT="+outFile, "GITHUB_STEP_SUMMARY="+filepath.Join(full, "summary"),
		"INPUT_PLAN=nix-layers.yaml", "INPUT_IMAGE="+reg.Ref(repo+":latest"), "INPUT_SBOM-PATH="+filepath.Join(outDir, "sbom.json"))
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != exitPublished {
		t.Fatalf("exit %d, want %d:\n%s", code, exitPublished, out)
	}
	digest := tagDigest(t, reg, repo, "latest")
	if digest == "" {
		t.Fatalf("no tag after the push:\n%s", out)
	}
	want := "::error::published " + reg.Ref(repo) + "@" + digest + ", but writing job summary:"
	if !strings.Contains(string(out), want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
	if got := parseOutputs(t, outFile)["digest"]; got != digest {
		t.Errorf("digest output %q, want %q", got, digest)
	}
}
