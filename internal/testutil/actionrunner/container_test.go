package actionrunner_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
)

// TestRunnerEnvironment runs a shell in the image to check what the step
// sees: root, the mounts, runner-owned workspace and file-command files,
// the inputs, and RUNNER_TEMP by runner generation.
func TestRunnerEnvironment(t *testing.T) {
	testutil.Short(t)
	img := actionrunner.BuildImage(t, "2.34")
	script := `set -e
id -u
stat -c 'owner %u %n' /github/workspace "$GITHUB_OUTPUT" "$GITHUB_STEP_SUMMARY" /github/home
# dash drops variables whose names have hyphens from its children's
# environment; the step's own process (PID 1) has them all.
tr '\0' '\n' < /proc/1/environ > /tmp/environ
grep -x 'INPUT_PLAN=nix-layers.yaml' /tmp/environ
grep -x 'INPUT_MAX-LAYER-SIZE=10GB' /tmp/environ
grep -qx "INPUT_GITHUB-TOKEN=$EXPECTED_TOKEN" /tmp/environ && echo token-ok
if [ -d "$RUNNER_TEMP" ]; then echo runner-temp-present; else echo runner-temp-absent; fi
echo "pwd $(pwd)"
echo "answer=42" >> "$GITHUB_OUTPUT"
echo "## summary line" >> "$GITHUB_STEP_SUMMARY"
`
	for _, newRunner := range []bool{false, true} {
		t.Run(fmt.Sprintf("newRunner=%v", newRunner), func(t *testing.T) {
			r := actionrunner.Run(t, actionrunner.Options{
				Image: img, Workspace: t.TempDir(), Token: canary, NewRunner: newRunner,
				Env:        map[string]string{"EXPECTED_TOKEN": canary},
				Entrypoint: "sh", Args: []string{"-c", script},
			})
			requireOK(t, "shell step", r)
			for _, want := range []string{"0\n", "owner 1001 /github/workspace", "owner 1001 /github/file_commands/set_output_",
				"owner 1001 /github/file_commands/step_summary_", "owner 1001 /github/home", "INPUT_PLAN=nix-layers.yaml\nINPUT_MAX-LAYER-SIZE=10GB\n", "token-ok", "pwd /github/workspace"} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("step output lacks %q:\n%s", want, r.Stdout)
				}
			}
			wantTemp := "runner-temp-absent"
			if newRunner {
				wantTemp = "runner-temp-present"
			}
			if !strings.Contains(r.Stdout, wantTemp) {
				t.Errorf("want %s:\n%s", wantTemp, r.Stdout)
			}
			if r.Outputs["answer"] != "42" || !strings.Contains(r.Summary, "## summary line") {
				t.Errorf("outputs %v, summary %q", r.Outputs, r.Summary)
			}
		})
	}
}

// TestSafeDirectory reproduces NixOS/nix#10202 in a docker action: the
// workspace belongs to the runner's uid, the container runs as root, and
// Nix >= 2.20 opens the flake's git repository with libgit2, which ignores
// the GIT_CONFIG_* variables. The image's /etc/gitconfig fixes it for
// every version; without it (and without the variables for 2.8, which runs
// git) the build fails.
func TestSafeDirectory(t *testing.T) {
	testutil.Short(t)
	build := "nix build --no-link --json .#app"
	noGitconfig := "rm -f /etc/gitconfig; "
	noEnv := "unset GIT_CONFIG_COUNT GIT_CONFIG_KEY_0 GIT_CONFIG_VALUE_0; "
	for _, v := range actionrunner.NixVersions {
		t.Run("nix-"+v, func(t *testing.T) {
			img := actionrunner.BuildImage(t, v)
			libgit2 := v != "2.8"
			cases := []struct {
				name, script string
				fails        bool
			}{
				{"image as built", build, false},
				{"gitconfig only", noEnv + build, false},
				{"GIT_CONFIG_* only (the old Dockerfile)", noGitconfig + build, libgit2},
				{"neither", noGitconfig + noEnv + build, true},
			}
			for _, c := range cases {
				r := actionrunner.Run(t, actionrunner.Options{
					Image: img, Workspace: flakeWorkspace(t), Env: offline, Entrypoint: "sh", Args: []string{"-c", c.script},
				})
				failed := r.ExitCode != 0
				if failed != c.fails {
					t.Errorf("%s: exit %d, want failure %v\nstderr:\n%s", c.name, r.ExitCode, c.fails, r.Stderr)
					continue
				}
				if !c.fails {
					continue
				}
				want := "is not owned by current user"
				if !libgit2 {
					want = "program 'git' failed"
				}
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("%s: failed without %q:\n%s", c.name, want, r.Stderr)
				}
			}
		})
	}
}

// TestHomeLeftovers reproduces what the image's XDG_* variables prevent:
// HOME is /github/home, owned by the runner's uid. Nix 2.8 leaves a
// root-owned .cache there; newer Nix warns on every call that it does not
// own $HOME.
//
// Nix 2.8 runs `git diff HEAD --quiet`, which refreshes and rewrites a
// stale .git/index (as root); GIT_OPTIONAL_LOCKS=0 does not stop it. It is
// a file in a directory the runner's user owns, so the user's next git
// write replaces it; it is the one leftover allowed.
func TestHomeLeftovers(t *testing.T) {
	testutil.Short(t)
	build := "nix build --no-link .#app"
	noXDG := "unset XDG_CACHE_HOME XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME; "
	for _, v := range actionrunner.NixVersions {
		t.Run("nix-"+v, func(t *testing.T) {
			img := actionrunner.BuildImage(t, v)
			r := actionrunner.Run(t, actionrunner.Options{Image: img, Workspace: flakeWorkspace(t), Env: offline, Entrypoint: "sh", Args: []string{"-c", build}})
			requireOK(t, "build", r)
			if left := withoutGitIndex(r.RootOwned); len(left) > 0 || len(nixWarnings(r.Stderr)) > 0 {
				t.Errorf("image as built: root-owned leftovers %v, warnings %q", left, nixWarnings(r.Stderr))
			}
			r = actionrunner.Run(t, actionrunner.Options{Image: img, Workspace: flakeWorkspace(t), Env: offline, Entrypoint: "sh", Args: []string{"-c", noXDG + build}})
			requireOK(t, "build without XDG_*", r)
			if v == "2.8" {
				if !hasPrefix(r.RootOwned, "/github/home/.cache") {
					t.Errorf("Nix 2.8 without XDG_CACHE_HOME left no root-owned /github/home/.cache: %v", r.RootOwned)
				}
				return
			}
			if w := strings.Join(nixWarnings(r.Stderr), "\n"); !strings.Contains(w, "$HOME ('/github/home') is not owned by you") {
				t.Errorf("Nix %s without XDG_*: no $HOME ownership warning: %q", v, w)
			}
		})
	}
}

// withoutGitIndex drops the workspace's .git/index (see TestHomeLeftovers).
func withoutGitIndex(paths []string) []string {
	var out []string
	for _, p := range paths {
		if p != "/github/workspace/.git/index" {
			out = append(out, p)
		}
	}
	return out
}

func hasPrefix(paths []string, prefix string) bool {
	for _, p := range paths {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
