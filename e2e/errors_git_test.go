package e2e

// Errors that say what to do: a flake in a git repository whose new files
// are not tracked. Nix copies only tracked files, so it reports a file of
// the source copy as missing; the error adds how to fix that.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	git := testutil.RequireTool(t, "git")
	cmd := exec.Command(git, append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestE2EUntrackedFlakeFilesInGit(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	dir := fx.Dir
	gitIn(t, dir, "init", "-q", ".")
	planFile := filepath.Join(dir, "nix-layers.yaml")
	plan := "version: 1\nlayers:\n  - name: base\n    deps: [\".#busybox\"]\n"
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	const hint = "hint: the flake is in a git repository (%s): Nix reads only the files git tracks, and flake.nix is not tracked; run `git add flake.nix` (no commit needed)"
	want := strings.Replace(hint, "%s", dir, 1)

	// Nothing tracked: Nix cannot see flake.nix.
	_, _, err := runCLI(t, nil, "plan", "--plan", planFile)
	if err == nil || !strings.Contains(err.Error(), "-source/flake.nix") || !strings.Contains(err.Error(), want) {
		t.Fatalf("plan with an untracked flake.nix: %v\nwant the hint %q", err, want)
	}
	if !strings.Contains(err.Error(), "also untracked: nix-layers.yaml") {
		t.Errorf("the hint does not list the other untracked file: %v", err)
	}
	// A plan written in Nix is evaluated from the same source copy.
	if _, _, err := runCLI(t, nil, "plan", "--plan", dir+"#imagePlan"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("plan --plan %s#imagePlan: %v, want the hint", dir, err)
	}

	// As the hint says: git add, no commit.
	gitIn(t, dir, "add", "flake.nix")
	fx.Build(t, "busybox") // plan builds nothing: what it plans must exist
	if _, stderr, err := runCLI(t, nil, "plan", "--plan", planFile); err != nil {
		t.Fatalf("plan after git add: %v\n%s", err, stderr)
	}

	// A file the flake imports, added later and not tracked, is named.
	flake, err := os.ReadFile(filepath.Join(dir, "flake.nix"))
	if err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "commit", "-qm", "flake")
	patched := strings.Replace(string(flake), "outputs = { self }:", "outputs = { self }: let extra = import ./extra.nix; in", 1)
	if patched == string(flake) {
		t.Fatal("cannot patch the fixture flake")
	}
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.nix"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// extra is unused, so force its evaluation through the package set.
	patched = strings.Replace(patched, "packages.${system} = rec {", "packages.${system} = assert extra == 1; rec {", 1)
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "plan", "--plan", planFile)
	if err == nil || !strings.Contains(err.Error(), "and extra.nix is not tracked; run `git add extra.nix`") {
		t.Errorf("plan with an untracked extra.nix: %v", err)
	}
}
