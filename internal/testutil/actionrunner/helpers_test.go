package actionrunner_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
)

const canary = "ghs_CANARYtoken0123456789abcdefXYZ"

// offline is the step env for Nix calls in a shell step: no substituter is
// reachable from the tests (the action gets the same through nix-conf).
var offline = map[string]string{"NIX_CONFIG": offlineNixConf}

const offlineNixConf = "substituters ="

// flakeNix is a closure of three derivations built with nothing but the
// image's /bin/sh: app -> lib -> data, app -> data.
const flakeNix = `{
  outputs = { self }:
    let
      mk = name: script: builtins.derivation {
        inherit name;
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" script ];
      };
    in {
      packages.x86_64-linux = rec {
        data = mk "nla-runner-data-1.0" "echo data > $out";
        lib = mk "nla-runner-lib-1.0" "echo ${data} > $out";
        app = mk "nla-runner-app-1.0" "echo ${lib} ${data} > $out";
      };
    };
}
`

const flakePlan = `version: 1
layers:
  - name: data
    deps: [".#data"]
  - name: lib
    deps: [".#lib"]
  - name: app
    deps: [".#app"]
`

// flakeWorkspace writes the flake and plan into a new git repository, as
// actions/checkout leaves it (Run gives it to the runner's uid).
func flakeWorkspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "flake.nix"), flakeNix)
	write(t, filepath.Join(dir, "nix-layers.yaml"), flakePlan)
	git := exec.Command("sh", "-c", "git init -q . && git add -A && git -c user.name=t -c user.email=t@example.invalid commit -qm checkout")
	git.Dir = dir
	if out, err := git.CombinedOutput(); err != nil {
		t.Fatalf("git: %v\n%s", err, out)
	}
	return dir
}

// exampleDir is the bundled example: a plan with a closure graph and a
// store tree, no Nix build.
func exampleDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(actionrunner.RepoRoot(t), "examples", "quickstart")
}

// exampleWorkspace copies the bundled example into a new workspace.
func exampleWorkspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := exampleDir(t)
	if out, err := exec.Command("cp", "-a", src+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// requireOK fails the test with the step's log unless it exited 0.
func requireOK(t *testing.T, what string, r actionrunner.Result) {
	t.Helper()
	if r.ExitCode != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.ExitCode, r.Stdout, r.Stderr)
	}
}

// nixWarnings returns Nix's warning lines from stderr, without the one
// every offline call prints.
func nixWarnings(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "warning:") && !strings.Contains(l, "you don't have Internet access") {
			out = append(out, l)
		}
	}
	return out
}
