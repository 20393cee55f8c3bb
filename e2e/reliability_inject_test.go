package e2e

// Issue 17, items 2 and 3: text from Nix (builtins.trace, a multi-line
// throw, builder logs) and from a closure graph a pull request can edit
// cannot act: no workflow command in the action's log, no injected output,
// no live Markdown.

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// injectedText is what the flake prints: every command the runner knows,
// at the start of a line, after blanks, and in the legacy ##[ form.
func injectedText() string {
	var b strings.Builder
	b.WriteString("hello")
	for _, c := range actionrunner.RunnerCommands {
		fmt.Fprintf(&b, "\n::%s name=digest::sha256:evil-%s\n  \t::%s::evil-%s\nx ##[%s name=digest;]sha256:evil-%s", c, c, c, c, c, c)
	}
	return b.String()
}

// injectFlake is a flake whose app's evaluation traces text through
// builtins.trace and whose builder prints it; with throw set, evaluating
// the app throws it instead.
func injectFlake(busybox, text string, throw bool) string {
	eval := fmt.Sprintf("builtins.trace %q", text)
	if throw {
		eval = fmt.Sprintf("throw %q", text)
	}
	return fmt.Sprintf(`{
  outputs = { self }:
    let system = "x86_64-linux"; in {
      packages.${system}.app = %s (builtins.derivation {
        name = "app-1.0";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" ''
          B=%s
          $B cat <<'END'
%s
END
          $B mkdir -p $out/bin
          $B cp $B $out/bin/busybox
        '' ];
      });
    };
}
`, eval, busybox, strings.ReplaceAll(text, "${", "''${"))
}

// TestReliabilityNixOutputCannotActInAction runs the action with real Nix
// on a flake that traces every workflow command (and on one that throws
// them): the runner, as modelled by actionrunner.Commands, obeys none of
// them, the digest output is the image's, and the text is still in the log
// as text.
func TestReliabilityNixOutputCannotActInAction(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	busybox := testutil.RequireTool(t, "busybox")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	reg := registry.Start(t, registry.Options{})
	text := injectedText() + fmt.Sprintf("\nseed %d", os.Getpid()) // a new derivation each run: the builder runs

	for _, throw := range []bool{false, true} {
		t.Run(fmt.Sprintf("throw=%v", throw), func(t *testing.T) {
			ws := t.TempDir()
			if err := os.WriteFile(filepath.Join(ws, "flake.nix"), []byte(injectFlake(busybox, text, throw)), 0o644); err != nil {
				t.Fatal(err)
			}
			plan := "version: 1\nlayers:\n  - name: app\n    deps: [\".#app\"]\n"
			if err := os.WriteFile(filepath.Join(ws, "nix-layers.yaml"), []byte(plan), 0o644); err != nil {
				t.Fatal(err)
			}
			res := runActionEnv(t, map[string]string{
				"GITHUB_EVENT_NAME": "push", "GITHUB_WORKSPACE": ws, "NIX_CONFIG": nixfix.NixConfig,
				"INPUT_PLAN": "nix-layers.yaml", "INPUT_IMAGE": reg.Ref("inject/app"), "INPUT_PUSH": "true",
				"INPUT_SUMMARY": "true", "INPUT_GITHUB-TOKEN": canary,
			})
			if throw != (res.err != nil) {
				t.Fatalf("throw=%v: action error %v\nstdout:\n%s", throw, res.err, res.stdout)
			}
			for _, c := range actionrunner.Commands(res.stdout + "\n" + res.stderr) {
				if strings.Contains(c.Line, "evil") && !(c.Name == "error" && strings.Contains(c.Data, "evil-set-output")) {
					t.Errorf("the runner would obey %s from Nix's output: %q", c.Name, c.Line)
				}
			}
			if !strings.Contains(res.stdout, "evil-set-output") {
				t.Errorf("Nix's text is not in the log at all (the test would prove nothing):\n%s", res.stdout)
			}
			for k, v := range res.outputs {
				if strings.Contains(v, "evil") {
					t.Errorf("output %s = %q", k, v)
				}
			}
			if throw {
				if _, ok := res.outputs["digest"]; ok {
					t.Errorf("a failed run set the digest output: %v", res.outputs)
				}
				return
			}
			if d := res.outputs["digest"]; !strings.HasPrefix(d, "sha256:") || len(d) != 71 || tagDigest(t, reg, "inject/app", "latest") != d {
				t.Errorf("digest output %q is not the pushed image's", d)
			}
		})
	}
}

// TestReliabilityEvilClosureGraphInAction: a pull request edits the plan's
// closure graph so that the app references a store path whose name Nix
// would never accept, made to render as a mention, a link and bold text in
// the bot's comment. The action refuses the graph before any work, with an
// annotation on the graph file at the value's line naming the field: no
// registry request, no comment, no summary, no output.
func TestReliabilityEvilClosureGraphInAction(t *testing.T) {
	testutil.Short(t)
	ws := t.TempDir()
	synthPlan(t, ws, []synthPkg{{Name: "app", Seed: 17, Size: 1 << 10}}, "")
	evil := "/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-evil 1.0@octocat [pwn](https:evil.example) **bold**"
	if err := os.MkdirAll(filepath.Join(ws, "store", evil), 0o755); err != nil {
		t.Fatal(err)
	}
	graph, err := os.ReadFile(filepath.Join(ws, "closure.json"))
	if err != nil {
		t.Fatal(err)
	}
	graph = []byte(strings.Replace(string(graph), `"references": []`, fmt.Sprintf(`"references": [%q]`, evil), 1))
	graph = []byte(strings.TrimSuffix(strings.TrimSpace(string(graph)), "]") +
		fmt.Sprintf(",\n  {\n    \"path\": %q,\n    \"narHash\": \"sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\",\n    \"narSize\": 112,\n    \"references\": []\n  }\n]\n", evil))
	if err := os.WriteFile(filepath.Join(ws, "closure.json"), graph, 0o644); err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(string(graph), "\n") {
		if strings.Contains(l, "evil") && line == 0 {
			line = i + 1
		}
	}

	gh := &fakeGitHub{comments: map[int64]string{}}
	api := httptest.NewServer(gh.handler(t))
	t.Cleanup(api.Close)
	event := filepath.Join(t.TempDir(), "event.json")
	payload, _ := os.ReadFile("testdata/pull_request.json")
	payload = []byte(strings.ReplaceAll(string(payload), `"number": 42`, `"number": 7`))
	if err := os.WriteFile(event, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	res := runActionEnv(t, map[string]string{
		"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": event, "GITHUB_API_URL": api.URL,
		"GITHUB_WORKSPACE": ws, "INPUT_PLAN": "nix-layers.yaml",
		// Nothing listens there: any registry work would fail differently.
		"INPUT_IMAGE": "127.0.0.1:1/evil/app", "INPUT_PUSH": "true", "INPUT_SUMMARY": "true", "INPUT_GITHUB-TOKEN": canary,
	})
	if res.err == nil {
		t.Fatalf("the action accepted the graph:\n%s", res.stdout)
	}
	var annotated bool
	for _, c := range actionrunner.Commands(res.stdout) {
		if c.Name == "error" && c.Properties["file"] == "closure.json" && c.Properties["line"] == fmt.Sprint(line) &&
			strings.HasPrefix(c.Data, "[0].references[0]: ") && strings.Contains(c.Data, "invalid character ' ' in the store path name") {
			annotated = true
		}
	}
	if !annotated {
		t.Errorf("no ::error file=closure.json,line=%d annotation naming [0].references[0]:\n%s", line, res.stdout)
	}
	if gh.creates+gh.edits != 0 || res.summary != "" || len(res.outputs) != 0 {
		t.Errorf("work was done: %d comments, summary %q, outputs %v", gh.creates+gh.edits, res.summary, res.outputs)
	}
}
