package actionrunner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testToken = "ghs_CANARYtoken0123456789abcdefXYZ"

func testLayout(t *testing.T) Layout {
	t.Helper()
	return newLayout(t, t.TempDir())
}

func loadRepoAction(t *testing.T) *Action {
	t.Helper()
	a, err := LoadAction(filepath.Join(RepoRoot(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestInputEnvNameKeepsHyphens(t *testing.T) {
	for in, want := range map[string]string{
		"github-token":   "INPUT_GITHUB-TOKEN",
		"plan":           "INPUT_PLAN",
		"max-layer-size": "INPUT_MAX-LAYER-SIZE",
		"with space":     "INPUT_WITH_SPACE",
	} {
		if got := InputEnvName(in); got != want {
			t.Errorf("InputEnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestContainerEnv checks the variables the runner would pass for the
// repository's action.yml: every input with its default, the token default,
// translated paths, and RUNNER_TEMP by runner generation.
func TestContainerEnv(t *testing.T) {
	a := loadRepoAction(t)
	lay := testLayout(t)
	o := Options{Token: testToken, Inputs: map[string]string{"image": "127.0.0.1:5000/org/repo", "tags": "a\nb"},
		Env: map[string]string{"GITHUB_API_URL": "http://127.0.0.1:1", "DOCKER_CONFIG": "{{runner.temp}}/_github_home/.docker", "OTHER": "{{runner.temp}}/x"}}
	env, err := containerEnv(o, a, lay)
	if err != nil {
		t.Fatal(err)
	}
	m := envMap(env)
	want := map[string]string{
		"INPUT_GITHUB-TOKEN":   testToken,
		"INPUT_PLAN":           "nix-layers.yaml",
		"INPUT_PUSH":           "true",
		"INPUT_MAX-LAYER-SIZE": "10GB",
		"INPUT_IMAGE":          "127.0.0.1:5000/org/repo",
		"INPUT_TAGS":           "a\nb",
		"INPUT_PR-COMMENT":     "",
		"HOME":                 HomeDir,
		"GITHUB_WORKSPACE":     WorkspaceDir,
		"GITHUB_EVENT_PATH":    WorkflowDir + "/event.json",
		"GITHUB_EVENT_NAME":    "push",
		"GITHUB_API_URL":       "http://127.0.0.1:1",
		"DOCKER_CONFIG":        "/github/home/.docker",
		"OTHER":                lay.Temp + "/x",
		"RUNNER_TEMP":          lay.Temp,
		"GITHUB_ACTIONS":       "true",
		"CI":                   "true",
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	for _, name := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"} {
		if !strings.HasPrefix(m[name], FileCommandsDir+"/") {
			t.Errorf("%s = %q, want a file under %s", name, m[name], FileCommandsDir)
		}
	}
	if !strings.Contains(m["GITHUB_OUTPUT"], "/set_output_") || !strings.Contains(m["GITHUB_STEP_SUMMARY"], "/step_summary_") {
		t.Errorf("file command names: %s, %s", m["GITHUB_OUTPUT"], m["GITHUB_STEP_SUMMARY"])
	}
	for name := range a.Inputs {
		if _, ok := m[InputEnvName(name)]; !ok {
			t.Errorf("declared input %s not passed", name)
		}
	}

	o.NewRunner = true
	env, err = containerEnv(o, a, lay)
	if err != nil {
		t.Fatal(err)
	}
	if got := envMap(env)["RUNNER_TEMP"]; got != RunnerTempDir {
		t.Errorf("new runner RUNNER_TEMP = %q, want %s", got, RunnerTempDir)
	}
}

func TestContainerEnvRejectsUndeclaredInput(t *testing.T) {
	_, err := containerEnv(Options{Inputs: map[string]string{"github_token": "x"}}, loadRepoAction(t), testLayout(t))
	if err == nil || !strings.Contains(err.Error(), "github_token") {
		t.Fatalf("undeclared input accepted: %v", err)
	}
}

// TestPodmanArgs checks mounts, the work dir and that values (the token)
// never reach the command line.
func TestPodmanArgs(t *testing.T) {
	lay := testLayout(t)
	o := Options{Image: "img", Token: testToken, Workspace: lay.Workspace}
	env, err := containerEnv(o, loadRepoAction(t), lay)
	if err != nil {
		t.Fatal(err)
	}
	for _, newRunner := range []bool{false, true} {
		o.NewRunner = newRunner
		args := podmanArgs(o, lay, env, "n")
		joined := strings.Join(args, " ")
		if strings.Contains(joined, testToken) {
			t.Errorf("token on the command line: %s", joined)
		}
		for _, want := range []string{"--workdir /github/workspace", "--network host", "-e INPUT_GITHUB-TOKEN ",
			"-v " + lay.Home + ":/github/home", "-v " + lay.Workflow + ":/github/workflow",
			"-v " + lay.FileCommands + ":/github/file_commands", "-v " + lay.Workspace + ":/github/workspace"} {
			if !strings.Contains(joined, want) {
				t.Errorf("newRunner=%v: %q missing from %s", newRunner, want, joined)
			}
		}
		if got := strings.Contains(joined, ":/github/runner_temp"); got != newRunner {
			t.Errorf("newRunner=%v: runner_temp mounted = %v", newRunner, got)
		}
		if args[len(args)-1] != "img" {
			t.Errorf("image is not last: %v", args)
		}
	}
	penv := podmanEnv(env)
	if !slices.Contains(penv, "INPUT_GITHUB-TOKEN="+testToken) {
		t.Error("podman's environment lacks the token for -e INPUT_GITHUB-TOKEN")
	}
	if slices.Contains(penv, "HOME="+HomeDir) {
		t.Error("podman itself runs with the container's HOME")
	}
	if args := strings.Join(podmanArgs(o, lay, env, "n"), " "); !strings.Contains(args, "-e HOME=/github/home") {
		t.Errorf("HOME not passed by value: %s", args)
	}
}

func TestParseFileCommand(t *testing.T) {
	f := filepath.Join(t.TempDir(), "out")
	data := "digest=sha256:abc\nmetadata<<ghadelimiter_1\n{\"a\":1,\n\"b\":\"x=y\"}\nghadelimiter_1\nempty=\n"
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ParseFileCommand(f)
	if err != nil {
		t.Fatal(err)
	}
	if got["digest"] != "sha256:abc" || got["metadata"] != "{\"a\":1,\n\"b\":\"x=y\"}" || got["empty"] != "" || len(got) != 3 {
		t.Errorf("ParseFileCommand = %q", got)
	}
	if err := os.WriteFile(f, []byte("x<<EOF\nunterminated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFileCommand(f); err == nil {
		t.Error("unterminated heredoc accepted")
	}
}

func TestTranslator(t *testing.T) {
	lay := testLayout(t)
	old, fresh := translator(lay, false), translator(lay, true)
	if got := old(filepath.Join(lay.Home, ".docker", "config.json")); got != "/github/home/.docker/config.json" {
		t.Errorf("home file -> %q", got)
	}
	if got := old(lay.Temp); got != lay.Temp {
		t.Errorf("old runner translated RUNNER_TEMP to %q", got)
	}
	if got := fresh(filepath.Join(lay.Temp, "x")); got != RunnerTempDir+"/x" {
		t.Errorf("new runner: %q", got)
	}
	if got := old(lay.Home + "x"); got != lay.Home+"x" {
		t.Errorf("prefix without separator translated: %q", got)
	}
}
