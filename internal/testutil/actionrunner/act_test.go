package actionrunner_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

const prPayload = `{
  "action": "synchronize",
  "number": 7,
  "pull_request": {
    "number": 7,
    "head": {"ref": "feature", "sha": "0123456789abcdef0123456789abcdef01234567", "repo": {"full_name": "org/repo"}},
    "base": {"ref": "main", "sha": "89abcdef0123456789abcdef0123456789abcdef", "repo": {"full_name": "org/repo"}}
  },
  "repository": {"full_name": "org/repo", "name": "repo", "owner": {"login": "org"}}
}`

func TestParseActLog(t *testing.T) {
	log := strings.Join([]string{
		"[nla-act/image] ⭐ Run Main Consume the outputs",
		"[nla-act/image]   | NLA_OUTPUT DIGEST=sha256:abc",
		"[nla-act/image]   | NLA_OUTPUT METADATA_BYTES=12",
		"[nla-act/image]   | not NLA_OUTPUT X=1",
		"NLA_OUTPUT PLAIN=a=b",
	}, "\n")
	r := actionrunner.ParseActLog(log)
	if r.Outputs["DIGEST"] != "sha256:abc" || r.Outputs["METADATA_BYTES"] != "12" || r.Outputs["PLAIN"] != "a=b" || len(r.Outputs) != 3 {
		t.Errorf("ParseActLog = %q", r.Outputs)
	}
}

// TestAct runs the action through nektos/act in container mode: a push
// that publishes, then the same pull request check twice, which keeps one
// sticky comment at a GitHub API stand-in. The token comes from act's
// GITHUB_TOKEN secret through action.yml's `${{ github.token }}` default.
func TestAct(t *testing.T) {
	testutil.Short(t)
	img := actionrunner.BuildImage(t, "2.34")
	reg := registry.Start(t, registry.Options{})
	gh := actionrunner.StartFakeGitHub(t, "org/repo", canary)
	repo := actionrunner.NewActRepo(t, img, exampleDir(t))
	base := actionrunner.ActOptions{
		Repo:    repo,
		Secrets: map[string]string{"GITHUB_TOKEN": canary},
		Env:     map[string]string{"NLA_IMAGE": reg.Ref("org/act"), "GITHUB_API_URL": gh.URL},
	}

	push := base
	push.Event = "push"
	r := actionrunner.RunAct(t, push)
	checkAct(t, "push", r)
	digest := r.Outputs["DIGEST"]
	if r.Outputs["CHANGED"] != "true" || r.Outputs["BYTES_PUSHED"] == "0" || r.Outputs["IMAGE"] != reg.Ref("org/act")+"@"+digest {
		t.Errorf("push outputs: %v", r.Outputs)
	}

	pr := base
	pr.Event, pr.EventPayload = "pull_request", []byte(prPayload)
	for i := 1; i <= 2; i++ {
		r := actionrunner.RunAct(t, pr)
		checkAct(t, "pull_request "+strconv.Itoa(i), r)
		if r.Outputs["DIGEST"] != digest || r.Outputs["BYTES_PUSHED"] != "0" {
			t.Errorf("pull request %d outputs: %v (push digest %s)", i, r.Outputs, digest)
		}
	}
	bodies, creates, edits, authorized := gh.Comments()
	if len(bodies) != 1 || creates != 1 || edits != 1 || authorized == 0 {
		t.Fatalf("sticky comment: %d comments, %d created, %d edited, %d authorized calls; want 1, 1, 1, >0", len(bodies), creates, edits, authorized)
	}
	if !strings.Contains(bodies[0], "nix-layer-action") {
		t.Errorf("comment body:\n%s", bodies[0])
	}
	if strings.Contains(bodies[0], canary) {
		t.Error("the token is in the PR comment")
	}
}

// checkAct checks one act run: success, outputs handed to the next step,
// the action's log groups, and no token in the log.
func checkAct(t *testing.T, what string, r actionrunner.ActResult) {
	t.Helper()
	if r.ExitCode != 0 {
		t.Fatalf("%s: act exit %d\n%s", what, r.ExitCode, r.Log)
	}
	if !strings.HasPrefix(r.Outputs["DIGEST"], "sha256:") || r.Outputs["METADATA_BYTES"] == "0" || r.Outputs["METADATA_BYTES"] == "" {
		t.Errorf("%s: outputs not consumed by the next step: %v\n%s", what, r.Outputs, r.Log)
	}
	if !strings.Contains(r.Log, "Publish registry") && !strings.Contains(r.Log, "Read previous images") {
		t.Errorf("%s: the action's log groups are not in act's log:\n%s", what, r.Log)
	}
	if strings.Contains(r.Log, canary) {
		t.Errorf("%s: the token appears in act's log", what)
	}
}
