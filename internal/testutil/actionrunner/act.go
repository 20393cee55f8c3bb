package actionrunner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil"
)

// ActOutputPrefix marks the lines of the act workflow's consumer step that
// ParseActLog reads.
const ActOutputPrefix = "NLA_OUTPUT "

// ActWorkflow runs the action with `uses: ./` after actions/checkout and
// hands its outputs to a next step, which prints them after
// ActOutputPrefix. The image comes from the NLA_IMAGE env (act --env), push
// is off on pull requests.
//
// The job summary cannot be checked this way: act truncates
// GITHUB_STEP_SUMMARY (one SUMMARY.md per job) before every step
// (pkg/runner/step.go), so no later step sees what the action wrote. Run
// (the runner emulation) checks the summary instead.
const ActWorkflow = `name: nla-act
on: [push, pull_request]
jobs:
  image:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: nla
        uses: ./
        with:
          image: ${{ env.NLA_IMAGE }}
          push: ${{ github.event_name != 'pull_request' }}
          nix-conf: |
            substituters =
      - name: Consume the outputs
        env:
          DIGEST: ${{ steps.nla.outputs.digest }}
          IMAGE: ${{ steps.nla.outputs.image }}
          CHANGED: ${{ steps.nla.outputs.changed }}
          BYTES_PUSHED: ${{ steps.nla.outputs.bytes-pushed }}
          LAYERS_PUSHED: ${{ steps.nla.outputs.layers-pushed }}
          LAYERS_CACHED: ${{ steps.nla.outputs.layers-cached }}
          METADATA: ${{ steps.nla.outputs.metadata }}
        run: |
          test -n "$DIGEST"
          for v in DIGEST IMAGE CHANGED BYTES_PUSHED LAYERS_PUSHED LAYERS_CACHED; do
            echo "NLA_OUTPUT $v=$(printenv "$v")"
          done
          echo "NLA_OUTPUT METADATA_BYTES=${#METADATA}"
`

// NewActRepo makes a git repository for act: the files of content (a
// directory, copied), action.yml from the module root with runs.image
// pointing at image (a local tag, so act does not pull), and ActWorkflow.
// Its origin is github.com/org/repo, which act takes as github.repository.
func NewActRepo(t testing.TB, image, content string) string {
	t.Helper()
	dir := t.TempDir()
	if content != "" {
		if out, err := exec.Command("cp", "-a", content+"/.", dir).CombinedOutput(); err != nil {
			t.Fatalf("actionrunner: cp: %v\n%s", err, out)
		}
	}
	action, err := os.ReadFile(filepath.Join(RepoRoot(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s*image:\s*)docker://\S+\s*$`)
	if !re.Match(action) {
		t.Fatal("actionrunner: action.yml has no `image: docker://…` line")
	}
	action = re.ReplaceAll(action, []byte("${1}docker://"+image))
	if err := os.WriteFile(filepath.Join(dir, "action.yml"), action, 0o644); err != nil {
		t.Fatal(err)
	}
	wf := filepath.Join(dir, ".github", "workflows")
	if err := os.MkdirAll(wf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wf, "nla.yml"), []byte(ActWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	git := exec.Command("sh", "-c", `git init -q -b main . && git add -A &&
git -c user.name=t -c user.email=t@example.invalid commit -qm act &&
git remote add origin https://github.com/org/repo.git`)
	git.Dir = dir
	if out, err := git.CombinedOutput(); err != nil {
		t.Fatalf("actionrunner: git: %v\n%s", err, out)
	}
	return dir
}

// ActOptions describe one `act` run of a repository.
type ActOptions struct {
	Repo         string            // from NewActRepo
	Event        string            // default "push"
	EventPayload []byte            // written to a file for act -e
	Secrets      map[string]string // act -s NAME, the value passed through the environment
	Env          map[string]string // act --env NAME=VALUE
	Timeout      time.Duration     // default 10 minutes
}

// ActResult is what an act run printed.
type ActResult struct {
	Log      string
	ExitCode int
	Outputs  map[string]string // NLA_OUTPUT lines
}

// RunAct runs scripts/act.sh for o.Repo. It needs root, podman and Go
// (to install act); the test skips without them (fails under CI=true).
func RunAct(t testing.TB, o ActOptions) ActResult {
	t.Helper()
	Available(t)
	testutil.RequireTool(t, "go")
	event := o.Event
	if event == "" {
		event = "push"
	}
	args := []string{filepath.Join(RepoRoot(t), "scripts", "act.sh"), o.Repo, event}
	if o.EventPayload != nil {
		f := filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(f, o.EventPayload, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-e", f)
	}
	env := os.Environ()
	for _, k := range sortedKeys(o.Secrets) {
		args = append(args, "-s", k)
		env = append(env, k+"="+o.Secrets[k])
	}
	for _, k := range sortedKeys(o.Env) {
		args = append(args, "--env", k+"="+o.Env[k])
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := ParseActLog(out.String())
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("actionrunner: act timed out after %s:\n%s", timeout, res.Log)
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("actionrunner: act: %v", err)
	}
	return res
}

// ParseActLog reads the consumer step's output lines from act's log (act
// prefixes a step's output lines with "[workflow/job]   | ").
func ParseActLog(log string) ActResult {
	res := ActResult{Log: log, Outputs: map[string]string{}}
	for _, line := range strings.Split(log, "\n") {
		msg := line
		if i := strings.Index(line, "| "); i >= 0 && strings.HasPrefix(line, "[") {
			msg = line[i+2:]
		}
		if strings.HasPrefix(msg, ActOutputPrefix) {
			if k, v, ok := strings.Cut(strings.TrimPrefix(msg, ActOutputPrefix), "="); ok {
				res.Outputs[k] = v
			}
		}
	}
	return res
}
