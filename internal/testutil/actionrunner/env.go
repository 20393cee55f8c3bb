package actionrunner

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Action is the part of action.yml the runner uses to start the container.
type Action struct {
	Inputs map[string]struct {
		Default *string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Using string            `yaml:"using"`
		Image string            `yaml:"image"`
		Env   map[string]string `yaml:"env"`
		Args  []string          `yaml:"args"`
	} `yaml:"runs"`
}

// LoadAction reads action.yml.
func LoadAction(path string) (*Action, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("actionrunner: %w", err)
	}
	var a Action
	if err := yaml.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("actionrunner: %s: %w", path, err)
	}
	if a.Runs.Using != "docker" {
		return nil, fmt.Errorf("actionrunner: %s: runs.using is %q, not docker", path, a.Runs.Using)
	}
	return &a, nil
}

// InputEnvName is the variable the runner passes an input in:
// "INPUT_" + the name with spaces as underscores, upper-cased. Hyphens stay
// ("github-token" → "INPUT_GITHUB-TOKEN").
func InputEnvName(input string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(input, " ", "_"))
}

type kv struct{ k, v string }

// containerEnv builds the container's environment in the runner's order:
// inputs, step env, the runner's variables, runs.env (where not set yet),
// then GITHUB_ACTIONS and CI.
func containerEnv(o Options, a *Action, lay Layout) ([]kv, error) {
	inputs, err := inputValues(o, a)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, name := range sortedKeys(inputs) {
		set(InputEnvName(name), inputs[name])
	}
	tr := translator(lay, o.NewRunner)
	for _, k := range sortedKeys(o.Env) {
		set(k, tr(strings.ReplaceAll(o.Env[k], "{{runner.temp}}", lay.Temp)))
	}
	for _, e := range runnerEnv(o, lay) {
		if _, ok := o.Env[e.k]; !ok {
			set(e.k, e.v)
		}
	}
	for _, k := range sortedKeys(a.Runs.Env) {
		if _, ok := vars[k]; !ok {
			set(k, a.Runs.Env[k])
		}
	}
	set("GITHUB_ACTIONS", "true")
	set("CI", "true")
	out := make([]kv, 0, len(order))
	for _, k := range order {
		out = append(out, kv{k, vars[k]})
	}
	return out, nil
}

// inputValues fills in action.yml's defaults; `${{ github.token }}` is the
// only expression supported.
func inputValues(o Options, a *Action) (map[string]string, error) {
	out := map[string]string{}
	for name, in := range a.Inputs {
		v := ""
		if in.Default != nil {
			v = *in.Default
		}
		if strings.Contains(v, "${{") {
			if strings.Join(strings.Fields(v), "") != "${{github.token}}" {
				return nil, fmt.Errorf("actionrunner: input %q: default %q is an expression the harness does not evaluate", name, v)
			}
			v = o.Token
		}
		out[name] = v
	}
	for name, v := range o.Inputs {
		if _, ok := a.Inputs[name]; !ok {
			return nil, fmt.Errorf("actionrunner: input %q is not declared in action.yml", name)
		}
		out[name] = v
	}
	return out, nil
}

// runnerEnv is what the runner exports to every container step, translated
// to container paths (the runner's TranslateToContainerPath).
func runnerEnv(o Options, lay Layout) []kv {
	event := o.EventName
	if event == "" {
		event = "push"
	}
	ref, refName, head, base := "refs/heads/main", "main", "", ""
	if event == "pull_request" || event == "pull_request_target" {
		ref, refName, head, base = "refs/pull/7/merge", "7/merge", "feature", "main"
	}
	tr := translator(lay, o.NewRunner)
	env := []kv{
		{"HOME", tr(lay.Home)},
		{"GITHUB_JOB", "build"},
		{"GITHUB_REF", ref},
		{"GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"},
		{"GITHUB_REPOSITORY", "org/repo"},
		{"GITHUB_REPOSITORY_OWNER", "org"},
		{"GITHUB_REPOSITORY_OWNER_ID", "1000001"},
		{"GITHUB_RUN_ID", "4242424242"},
		{"GITHUB_RUN_NUMBER", "42"},
		{"GITHUB_RETENTION_DAYS", "90"},
		{"GITHUB_RUN_ATTEMPT", "1"},
		{"GITHUB_ACTOR_ID", "1000002"},
		{"GITHUB_ACTOR", "octocat"},
		{"GITHUB_WORKFLOW", "Build image"},
		{"GITHUB_HEAD_REF", head},
		{"GITHUB_BASE_REF", base},
		{"GITHUB_EVENT_NAME", event},
		{"GITHUB_SERVER_URL", "https://github.com"},
		{"GITHUB_API_URL", "https://api.github.com"},
		{"GITHUB_GRAPHQL_URL", "https://api.github.com/graphql"},
		{"GITHUB_REF_NAME", refName},
		{"GITHUB_REF_PROTECTED", "false"},
		{"GITHUB_REF_TYPE", "branch"},
		{"GITHUB_WORKFLOW_REF", "org/repo/.github/workflows/image.yml@" + ref},
		{"GITHUB_WORKFLOW_SHA", "0123456789abcdef0123456789abcdef01234567"},
		{"GITHUB_REPOSITORY_ID", "1000003"},
		{"GITHUB_TRIGGERING_ACTOR", "octocat"},
		{"GITHUB_WORKSPACE", tr(lay.Workspace)},
		{"GITHUB_ACTION", "__org_nix-layer-action"},
		{"GITHUB_EVENT_PATH", tr(filepath.Join(lay.Workflow, "event.json"))},
		{"GITHUB_ACTION_REPOSITORY", "org/nix-layer-action"},
		{"GITHUB_ACTION_REF", "v1"},
	}
	for _, fc := range fileCommands {
		env = append(env, kv{fc.env, tr(lay.Files[fc.env])})
	}
	return append(env,
		kv{"RUNNER_OS", "Linux"},
		kv{"RUNNER_ARCH", "X64"},
		kv{"RUNNER_NAME", "GitHub Actions 1"},
		kv{"RUNNER_ENVIRONMENT", "github-hosted"},
		kv{"RUNNER_TOOL_CACHE", "/opt/hostedtoolcache"},
		kv{"RUNNER_TEMP", tr(lay.Temp)},
		kv{"RUNNER_WORKSPACE", filepath.Dir(lay.Workspace)},
		kv{"ACTIONS_RUNTIME_URL", "https://pipelines.actions.githubusercontent.invalid/"},
		kv{"ACTIONS_RUNTIME_TOKEN", "actions-runtime-token-not-real"},
		kv{"ACTIONS_CACHE_URL", "https://artifactcache.actions.githubusercontent.invalid/"},
		kv{"ACTIONS_RESULTS_URL", "https://results-receiver.actions.githubusercontent.invalid/"},
	)
}

// translator maps host paths under a mounted directory to the container
// path; others are returned unchanged, as the runner does.
func translator(lay Layout, newRunner bool) func(string) string {
	maps := [][2]string{
		{lay.Home, HomeDir},
		{lay.Workflow, WorkflowDir},
		{lay.FileCommands, FileCommandsDir},
		{lay.Workspace, WorkspaceDir},
	}
	if newRunner {
		maps = append(maps, [2]string{lay.Temp, RunnerTempDir})
	}
	return func(p string) string {
		for _, m := range maps {
			if p == m[0] {
				return m[1]
			}
			if strings.HasPrefix(p, m[0]+"/") {
				return m[1] + p[len(m[0]):]
			}
		}
		return p
	}
}

// ParseFileCommand reads a GITHUB_OUTPUT/GITHUB_ENV/GITHUB_STATE file:
// `name=value` lines and `name<<DELIMITER` heredocs.
func ParseFileCommand(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("actionrunner: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		eq := strings.Index(line, "=")
		hd := strings.Index(line, "<<")
		if hd >= 0 && (eq < 0 || hd < eq) {
			name, delim := line[:hd], line[hd+2:]
			var val []string
			closed := false
			for sc.Scan() {
				if sc.Text() == delim {
					closed = true
					break
				}
				val = append(val, sc.Text())
			}
			if !closed {
				return nil, fmt.Errorf("actionrunner: %s: %s: no closing delimiter %q", path, name, delim)
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		if eq < 0 {
			return nil, fmt.Errorf("actionrunner: %s: malformed line %q", path, line)
		}
		out[line[:eq]] = line[eq+1:]
	}
	return out, sc.Err()
}

func envMap(env []kv) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.k] = e.v
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
