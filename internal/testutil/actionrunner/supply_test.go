package actionrunner_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
	"github.com/org/nix-layer-action/internal/testutil/cdxschema"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// TestActionSupplyChain runs the action image as the runner does on a
// checkout of the example: git in the container (root, in a workspace the
// runner's user owns) reads the commit's time for created, and the SBOM
// lands in the workspace at the path the sbom output names, readable and
// owned by the runner's user on the host, where actions/attest-sbom reads
// it.
func TestActionSupplyChain(t *testing.T) {
	testutil.Short(t)
	img := actionrunner.BuildImage(t, "2.34")
	reg := registry.Start(t, registry.Options{})
	ws := exampleWorkspace(t)
	git := exec.Command("sh", "-c", "git init -q . && git add -A && git -c user.name=t -c user.email=t@example.invalid commit -qm checkout && git rev-parse HEAD")
	git.Dir = ws
	git.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2025-11-20T10:01:02Z", "GIT_AUTHOR_DATE=2001-01-01T00:00:00Z")
	out, err := git.Output()
	if err != nil {
		t.Fatalf("git: %v", err)
	}
	sha := strings.TrimSpace(string(out))
	o := actionrunner.Options{
		Image: img, Workspace: ws, Token: canary, NewRunner: true,
		Env:    map[string]string{"GITHUB_SHA": sha},
		Inputs: map[string]string{"image": reg.Ref("org/supply"), "nix-conf": offlineNixConf},
	}
	r := actionrunner.Run(t, o)
	requireOK(t, "action", r)
	if !strings.Contains(r.Stdout, "created 2025-11-20T10:01:02Z from the commit's time (git)") {
		t.Errorf("created did not come from git in the container:\n%s", r.Stdout)
	}
	if r.Outputs["sbom"] != "nix-layer-action.cdx.json" {
		t.Fatalf("sbom output %q", r.Outputs["sbom"])
	}
	host := filepath.Join(ws, r.Outputs["sbom"])
	info, err := os.Stat(host)
	if err != nil {
		t.Fatalf("the sbom output is not a file on the host: %v", err)
	}
	if st := info.Sys().(*syscall.Stat_t); st.Uid != actionrunner.RunnerUID || info.Mode().Perm() != 0o644 {
		t.Errorf("SBOM owned by %d, mode %v; want the runner's user %d, 0644", st.Uid, info.Mode().Perm(), actionrunner.RunnerUID)
	}
	data, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	if err := cdxschema.Validate(t, data); err != nil {
		t.Fatalf("SBOM does not validate: %v", err)
	}
	var d struct {
		Metadata struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Hashes []struct {
					Content string `json:"content"`
				} `json:"hashes"`
			} `json:"component"`
		} `json:"metadata"`
		Components []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Components) != 3 || len(d.Metadata.Component.Hashes) != 1 || "sha256:"+d.Metadata.Component.Hashes[0].Content != r.Outputs["digest"] ||
		d.Metadata.Timestamp != "2025-11-20T10:01:02Z" {
		t.Errorf("SBOM: %d components, subject %+v, timestamp %s; digest output %s", len(d.Components), d.Metadata.Component, d.Metadata.Timestamp, r.Outputs["digest"])
	}
	if left := withoutGitIndex(r.RootOwned); len(left) > 0 {
		t.Errorf("root-owned files left for the runner: %v", left)
	}
	// The annotations reached the registry.
	skopeo := testutil.RequireTool(t, "skopeo")
	raw := exec.Command(skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+reg.Ref("org/supply")+"@"+r.Outputs["digest"])
	b, err := raw.Output()
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Annotations map[string]string }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Annotations["org.opencontainers.image.revision"] != sha || m.Annotations["org.opencontainers.image.source"] != "https://github.com/org/repo" ||
		m.Annotations["org.opencontainers.image.created"] != "2025-11-20T10:01:02Z" {
		t.Errorf("manifest annotations %v", m.Annotations)
	}
}
