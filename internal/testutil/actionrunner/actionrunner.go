// Package actionrunner runs the action image the way GitHub's runner runs a
// `runs: using: docker` step, for integration tests.
//
// Run starts one `podman run` with what actions/runner's
// ContainerActionHandler passes to `docker run` (as seen in its source and in
// real job logs):
//
//   - --workdir /github/workspace and the mounts /github/home,
//     /github/workflow, /github/file_commands and /github/workspace, all
//     directories of the runner's temp dir or workspace on the host;
//     /github/runner_temp (the temp dir itself) only with Options.NewRunner,
//     as runners from v2.331 mount it;
//   - every input declared in action.yml as INPUT_<NAME>: the name upper-cased
//     with spaces turned into underscores and hyphens kept
//     (INPUT_GITHUB-TOKEN), with action.yml's defaults filled in
//     (`${{ github.token }}` becomes Options.Token);
//   - the runner's GITHUB_*, RUNNER_* and ACTIONS_* variables, with host paths
//     under the mounted directories translated to container paths
//     (GITHUB_OUTPUT=/github/file_commands/set_output_<uuid>,
//     GITHUB_EVENT_PATH=/github/workflow/event.json, HOME=/github/home, …) and
//     others, such as RUNNER_TEMP on older runners, left as host paths;
//   - action.yml's runs.env, then GITHUB_ACTIONS=true and CI=true.
//
// Values reach podman through its environment (`-e NAME`), as the runner
// does, so no secret appears on a command line; the few variables podman
// itself reads (HOME, DOCKER_CONFIG, …) are passed as `-e NAME=VALUE`. The workspace and the
// runner's directories belong to RunnerUID (the runner's user on
// GitHub-hosted runners) while the container runs as root. The container
// uses the host network (`--network host`) so that it reaches registries and
// API stand-ins on loopback.
//
// Integration tests need root, podman and runc; without them they skip, and
// under CI=true they fail (testutil.RequireTool).
package actionrunner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/org/nix-layer-action/internal/testutil"
)

// RunnerUID is the uid and gid of the runner's user on GitHub-hosted runners
// ("runner"), which owns the workspace and the runner's temp directory.
const RunnerUID = 1001

// Container paths the runner mounts.
const (
	WorkspaceDir    = "/github/workspace"
	HomeDir         = "/github/home"
	WorkflowDir     = "/github/workflow"
	FileCommandsDir = "/github/file_commands"
	RunnerTempDir   = "/github/runner_temp"
)

// Mount is an extra bind mount (not something the runner does; for binary
// caches, fixtures and the like).
type Mount struct {
	Host, Container string
	ReadOnly        bool
}

// Options describe one action step.
type Options struct {
	// Image is the action image, e.g. from BuildImage. Required.
	Image string
	// Inputs are the step's `with:` values by input name as in action.yml.
	// An input action.yml does not declare fails the test.
	Inputs map[string]string
	// Token is ${{ github.token }}: the default of inputs declaring it.
	Token string
	// Env is the step's `env:`, overriding the runner's variables. As the
	// runner does with every value, host paths under a mounted directory
	// are translated to container paths; "{{runner.temp}}" in a value is
	// the host's RUNNER_TEMP (so "{{runner.temp}}/_github_home/.docker"
	// becomes /github/home/.docker).
	Env map[string]string
	// HomeFiles are written into the runner's _github_home (the container's
	// /github/home) before the step, by path relative to it, as an earlier
	// step would leave them (e.g. ".docker/config.json").
	HomeFiles map[string][]byte
	// Workspace is the host directory mounted at /github/workspace (the
	// checkout). Run chowns it, recursively, to RunnerUID. Required.
	Workspace string
	// EventName is GITHUB_EVENT_NAME (default "push").
	EventName string
	// EventPayload is written to /github/workflow/event.json (default "{}").
	EventPayload []byte
	// NewRunner emulates runners from v2.331 on: the runner's temp dir is
	// mounted at /github/runner_temp and RUNNER_TEMP points there. Older
	// runners pass RUNNER_TEMP as the host path, which does not exist in
	// the container.
	NewRunner bool
	// ActionFile is the action.yml giving inputs, defaults and runs.env
	// (default: action.yml at the module root).
	ActionFile string
	// Mounts are extra bind mounts.
	Mounts []Mount
	// Entrypoint and Args override the image's (for reproductions; the
	// action itself has no args).
	Entrypoint string
	Args       []string
	// Network is the podman network (default "host").
	Network string
	// Timeout bounds the run (default 10 minutes).
	Timeout time.Duration
}

// Result is what the step left behind.
type Result struct {
	Stdout, Stderr string
	// Outputs are the outputs set through GITHUB_OUTPUT.
	Outputs map[string]string
	// Summary is the job summary written to GITHUB_STEP_SUMMARY.
	Summary string
	// ExitCode is the container's exit status.
	ExitCode int
	// RootOwned lists, as container paths, what the step left owned by
	// root in the workspace and the runner's directories (the runner's
	// user cannot remove those afterwards).
	RootOwned []string
	// Host holds the host directories of the run.
	Host Layout
	// Env is the container environment the step got (secrets included;
	// do not log it).
	Env map[string]string
}

// Layout is the runner's directory layout on the host, mimicking
// /home/runner/work/_temp.
type Layout struct {
	Workspace    string
	Temp         string // RUNNER_TEMP
	Home         string // Temp/_github_home
	Workflow     string // Temp/_github_workflow
	FileCommands string // Temp/_runner_file_commands
	// File command files (host paths) by variable name (GITHUB_OUTPUT, …).
	Files map[string]string
}

// fileCommands are the per-step file command files, by variable and the
// runner's file name prefix.
var fileCommands = []struct{ env, prefix string }{
	{"GITHUB_ENV", "set_env_"},
	{"GITHUB_PATH", "add_path_"},
	{"GITHUB_OUTPUT", "set_output_"},
	{"GITHUB_STATE", "save_state_"},
	{"GITHUB_STEP_SUMMARY", "step_summary_"},
}

// Available skips the test (or fails it under CI=true) unless podman and
// runc are installed and the test runs as root (the ownership emulation
// chowns to RunnerUID). It returns the podman path.
func Available(t testing.TB) string {
	t.Helper()
	podman := testutil.RequireTool(t, "podman")
	testutil.RequireTool(t, "runc")
	if os.Geteuid() != 0 {
		if testutil.InCI() {
			t.Fatal("actionrunner: needs root under CI=true")
		}
		t.Skip("actionrunner: needs root (chown to the runner's uid, rootful podman)")
	}
	return podman
}

// Run runs the step once in a new container and returns what it left. A
// harness failure fails the test; the step's own failure is in ExitCode.
func Run(t testing.TB, o Options) Result {
	t.Helper()
	podman := Available(t)
	if o.Image == "" || o.Workspace == "" {
		t.Fatal("actionrunner: Options.Image and Options.Workspace are required")
	}
	act, err := LoadAction(actionFile(t, o.ActionFile))
	if err != nil {
		t.Fatal(err)
	}
	lay := newLayout(t, o.Workspace)
	env, err := containerEnv(o, act, lay)
	if err != nil {
		t.Fatal(err)
	}
	if err := prepare(o, lay); err != nil {
		t.Fatal(err)
	}
	name := "nla-actionrunner-" + uuid.NewString()[:12]
	t.Cleanup(func() { _ = exec.Command(podman, "rm", "-f", "--ignore", name).Run() })
	args := podmanArgs(o, lay, env, name)

	timeout := o.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, podman, args...)
	cmd.Env = podmanEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String(), Host: lay, Env: envMap(env)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("actionrunner: %s timed out after %s\nstdout:\n%s\nstderr:\n%s", o.Image, timeout, res.Stdout, res.Stderr)
	case errors.As(runErr, &exit):
		res.ExitCode = exit.ExitCode()
	case runErr != nil:
		t.Fatalf("actionrunner: podman run: %v", runErr)
	}
	if res.Outputs, err = ParseFileCommand(lay.Files["GITHUB_OUTPUT"]); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(lay.Files["GITHUB_STEP_SUMMARY"])
	if err != nil {
		t.Fatal(err)
	}
	res.Summary = string(sum)
	if res.RootOwned, err = rootOwned(lay, o.NewRunner); err != nil {
		t.Fatal(err)
	}
	return res
}

// newLayout lays out the runner's directories under a new temp dir.
func newLayout(t testing.TB, workspace string) Layout {
	t.Helper()
	abs, err := filepath.Abs(workspace)
	if err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(t.TempDir(), "work", "_temp")
	lay := Layout{
		Workspace:    abs,
		Temp:         temp,
		Home:         filepath.Join(temp, "_github_home"),
		Workflow:     filepath.Join(temp, "_github_workflow"),
		FileCommands: filepath.Join(temp, "_runner_file_commands"),
		Files:        map[string]string{},
	}
	id := uuid.NewString()
	for _, fc := range fileCommands {
		lay.Files[fc.env] = filepath.Join(lay.FileCommands, fc.prefix+id)
	}
	return lay
}

// prepare creates the directories and files and gives them, and the
// workspace, to RunnerUID.
func prepare(o Options, lay Layout) error {
	for _, d := range []string{lay.Home, lay.Workflow, lay.FileCommands} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	payload := o.EventPayload
	if payload == nil {
		payload = []byte("{}")
	}
	if err := os.WriteFile(filepath.Join(lay.Workflow, "event.json"), payload, 0o644); err != nil {
		return err
	}
	for _, f := range lay.Files {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return err
		}
	}
	for rel, data := range o.HomeFiles {
		p := filepath.Join(lay.Home, filepath.Clean("/"+rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	// The work dir above _temp, as /home/runner/work.
	if err := chownTree(filepath.Dir(lay.Temp), RunnerUID); err != nil {
		return err
	}
	return chownTree(lay.Workspace, RunnerUID)
}

func chownTree(root string, uid int) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// podmanArgs is the `podman run` command line (values of -e come from the
// environment).
func podmanArgs(o Options, lay Layout, env []kv, name string) []string {
	network := o.Network
	if network == "" {
		network = "host"
	}
	args := []string{"--runtime", "runc", "run", "--rm", "--name", name,
		"--label", "org.nix-layer-action.actionrunner=1",
		"--workdir", WorkspaceDir, "--network", network}
	for _, e := range env {
		if podmanReads[e.k] {
			args = append(args, "-e", e.k+"="+e.v)
		} else {
			args = append(args, "-e", e.k)
		}
	}
	mounts := []Mount{
		{Host: lay.Home, Container: HomeDir},
		{Host: lay.Workflow, Container: WorkflowDir},
		{Host: lay.FileCommands, Container: FileCommandsDir},
		{Host: lay.Workspace, Container: WorkspaceDir},
	}
	if o.NewRunner {
		mounts = append([]Mount{{Host: lay.Temp, Container: RunnerTempDir}}, mounts...)
	}
	for _, m := range append(mounts, o.Mounts...) {
		v := m.Host + ":" + m.Container
		if m.ReadOnly {
			v += ":ro"
		}
		args = append(args, "-v", v)
	}
	if o.Entrypoint != "" {
		args = append(args, "--entrypoint", o.Entrypoint)
	}
	args = append(args, o.Image)
	return append(args, o.Args...)
}

// podmanReads are variables podman itself interprets (DOCKER_CONFIG is its
// registry auth file, for one). They keep the host's value in podman's
// environment and reach the container as `-e NAME=VALUE` instead.
var podmanReads = map[string]bool{
	"PATH": true, "HOME": true, "TMPDIR": true, "DOCKER_CONFIG": true, "REGISTRY_AUTH_FILE": true,
	"XDG_RUNTIME_DIR": true, "XDG_CONFIG_HOME": true, "XDG_DATA_HOME": true, "CONTAINER_HOST": true,
	"CONTAINER_CONNECTION": true, "CONTAINERS_CONF": true, "CONTAINERS_REGISTRIES_CONF": true,
	"CONTAINERS_STORAGE_CONF": true, "STORAGE_DRIVER": true, "STORAGE_OPTS": true,
}

// podmanEnv is podman's own environment: the host's values of what podman
// reads, then the container's other variables (read through `-e NAME`).
func podmanEnv(env []kv) []string {
	var out []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if podmanReads[k] || strings.HasPrefix(k, "CONTAINERS_") {
			out = append(out, e)
		}
	}
	for _, e := range env {
		if !podmanReads[e.k] {
			out = append(out, e.k+"="+e.v)
		}
	}
	return out
}

// rootOwned lists what is owned by root in the runner's directories and the
// workspace, as container paths.
func rootOwned(lay Layout, newRunner bool) ([]string, error) {
	roots := map[string]string{
		lay.Home:         HomeDir,
		lay.Workflow:     WorkflowDir,
		lay.FileCommands: FileCommandsDir,
		lay.Workspace:    WorkspaceDir,
	}
	if newRunner {
		roots[lay.Temp] = RunnerTempDir
	}
	var out []string
	for host, ctr := range roots {
		err := filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if newRunner && host == lay.Temp && p != host && roots[p] != "" {
				return fs.SkipDir // walked under its own mount
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
				rel, _ := filepath.Rel(host, p)
				out = append(out, filepath.Join(ctr, rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// actionFile returns the action.yml to use.
func actionFile(t testing.TB, path string) string {
	t.Helper()
	if path != "" {
		return path
	}
	return filepath.Join(RepoRoot(t), "action.yml")
}

// RepoRoot returns the module root (the directory holding go.mod) above the
// current directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("actionrunner: go.mod not found above the current directory")
		}
		dir = parent
	}
}

// AssertNoSecret fails the test when secret occurs anywhere in the run's
// stdout, stderr, outputs or summary, except in the ::add-mask:: command
// that hands it to the runner.
func AssertNoSecret(t testing.TB, r Result, secret string) {
	t.Helper()
	check := func(where, s string) {
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, "::add-mask::") {
				continue
			}
			if strings.Contains(line, secret) {
				t.Errorf("the secret appears in %s: %q", where, line)
			}
		}
	}
	check("stdout", r.Stdout)
	check("stderr", r.Stderr)
	check("summary", r.Summary)
	for k, v := range r.Outputs {
		check(fmt.Sprintf("output %s", k), v)
	}
}
