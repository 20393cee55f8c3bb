package action

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"
)

// repoRoot finds the module root (the directory holding go.mod).
func repoRoot(t *testing.T) string {
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
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func newLinter(t *testing.T, root string) (*actionlint.Linter, *actionlint.Project) {
	t.Helper()
	opts := &actionlint.LinterOptions{WorkingDir: root, LogWriter: io.Discard}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	}
	l, err := actionlint.NewLinter(io.Discard, opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	return l, p
}

func lint(t *testing.T, l *actionlint.Linter, p *actionlint.Project, path string, content []byte) []*actionlint.Error {
	t.Helper()
	errs, err := l.Lint(path, content, p)
	if err != nil {
		t.Fatalf("actionlint %s: %v", path, err)
	}
	return errs
}

func TestActionlintWorkflowsAndExamples(t *testing.T) {
	root := repoRoot(t)
	l, p := newLinter(t, root)
	var files []string
	for _, pat := range []string{".github/workflows/*.yml", ".github/workflows/*.yaml", "examples/*.yml", "examples/*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for _, want := range []string{"ci.yml", "release.yml", "push.yml", "nightly.yml", "pr-check.yml", "attest.yml"} {
		if !contains(names, want) {
			t.Errorf("%s not found (have %v)", want, names)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range lint(t, l, p, f, data) {
			t.Errorf("%v", e)
		}
	}
}

func TestActionlintCatchesBrokenWorkflow(t *testing.T) {
	root := repoRoot(t)
	l, p := newLinter(t, root)
	broken := `name: broken
on:
  pushh:
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ github.nonexistent_context_field }}
      - uses: actions/checkout@v4
        with:
          not-an-input: 1
`
	errs := lint(t, l, p, filepath.Join(root, ".github/workflows/broken.yml"), []byte(broken))
	if len(errs) < 2 {
		t.Fatalf("want errors for the bad event and expression, got %v", errs)
	}
	all := ""
	for _, e := range errs {
		all += e.Error() + "\n"
	}
	if !strings.Contains(all, "pushh") {
		t.Errorf("unknown event not reported:\n%s", all)
	}
}

// TestActionlintActionMetadata lints workflows that use the action from the
// repository root (uses: ./), which makes actionlint parse action.yml and
// check the inputs given against it.
func TestActionlintActionMetadata(t *testing.T) {
	root := repoRoot(t)
	l, p := newLinter(t, root)
	path := filepath.Join(root, ".github/workflows/local-action.yml")
	good := `name: local
on: pull_request
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: img
        uses: ./
        with:
          plan: nix-layers.yaml
          push: false
          max-growth: "+20%"
      - run: echo "$D"
        env:
          D: ${{ steps.img.outputs.digest }}
`
	if errs := lint(t, l, p, path, []byte(good)); len(errs) != 0 {
		t.Errorf("valid use of the local action rejected: %v", errs)
	}
	bad := strings.Replace(good, "max-growth:", "max-grwoth:", 1)
	errs := lint(t, l, p, path, []byte(bad))
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "max-grwoth") {
		t.Errorf("misspelt input not caught (action.yml not read?): %v", errs)
	}
}

// TestActionYAML checks action.yml against what the code reads and writes.
func TestActionYAML(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Name, Description string
		Branding          struct{ Icon, Color string }
		Inputs            map[string]struct {
			Description string
			Default     *string
			Required    bool
		}
		Outputs map[string]struct{ Description string }
		Runs    struct {
			Using, Image string
		}
	}
	if err := yaml.Unmarshal(data, &md); err != nil {
		t.Fatal(err)
	}
	if md.Name == "" || md.Description == "" || md.Branding.Icon == "" || md.Branding.Color == "" {
		t.Error("name, description and branding are required for the Marketplace")
	}
	if md.Runs.Using != "docker" || md.Runs.Image != "docker://ghcr.io/org/nix-layer-action:v1" {
		t.Errorf("runs = %+v", md.Runs)
	}
	var inputs, outputs []string
	for k, v := range md.Inputs {
		inputs = append(inputs, k)
		if strings.TrimSpace(v.Description) == "" {
			t.Errorf("input %s has no description", k)
		}
		if v.Required {
			t.Errorf("input %s should not be required (all have defaults)", k)
		}
	}
	for k, v := range md.Outputs {
		outputs = append(outputs, k)
		if strings.TrimSpace(v.Description) == "" {
			t.Errorf("output %s has no description", k)
		}
	}
	sort.Strings(inputs)
	sort.Strings(outputs)
	wantIn := append([]string(nil), InputNames...)
	wantOut := append([]string(nil), OutputNames...)
	sort.Strings(wantIn)
	sort.Strings(wantOut)
	if strings.Join(inputs, " ") != strings.Join(wantIn, " ") {
		t.Errorf("action.yml inputs %v, code reads %v", inputs, wantIn)
	}
	if strings.Join(outputs, " ") != strings.Join(wantOut, " ") {
		t.Errorf("action.yml outputs %v, code sets %v", outputs, wantOut)
	}
	defaults := map[string]string{"plan": "nix-layers.yaml", "push": "true", "summary": "true", "max-layer-size": DefaultMaxLayerSize, "github-token": "${{ github.token }}"}
	for k, want := range defaults {
		if d := md.Inputs[k].Default; d == nil || *d != want {
			t.Errorf("input %s default = %v, want %q", k, d, want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestExamplesUseRealInputsAndOutputs: actionlint cannot check the inputs
// of a remote action, so every example step that uses this action is
// checked here: only inputs action.yml declares, only outputs it sets.
func TestExamplesUseRealInputsAndOutputs(t *testing.T) {
	root := repoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*.yml"))
	if len(files) < 5 {
		t.Fatalf("only %d examples", len(files))
	}
	outputRE := regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)`)
	uses := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var wf struct {
			Jobs map[string]struct {
				Steps []struct {
					ID   string            `yaml:"id"`
					Uses string            `yaml:"uses"`
					With map[string]string `yaml:"with"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		if err := yaml.Unmarshal(data, &wf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ours := map[string]bool{}
		for job, j := range wf.Jobs {
			for _, st := range j.Steps {
				if !strings.HasPrefix(st.Uses, "org/nix-layer-action@") {
					continue
				}
				uses++
				if st.ID != "" {
					ours[st.ID] = true
				}
				for k := range st.With {
					if !contains(InputNames, k) {
						t.Errorf("%s: job %s: input %q is not an input of the action", filepath.Base(f), job, k)
					}
				}
			}
		}
		for _, m := range outputRE.FindAllStringSubmatch(string(data), -1) {
			if ours[m[1]] && !contains(OutputNames, m[2]) {
				t.Errorf("%s: steps.%s.outputs.%s is not an output of the action", filepath.Base(f), m[1], m[2])
			}
		}
	}
	if uses == 0 {
		t.Fatal("no example uses the action")
	}
}
