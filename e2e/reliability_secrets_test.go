package e2e

// Secrets (issue 5): canaries as the GitHub token and as the registry
// password, through a registry that fails and echoes the Authorization
// header back in its error body, in CLI and action mode. They must never
// appear in stdout, stderr, errors, outputs, summary or report, nor in any
// file the run writes (HOME, temp dirs); the Docker config the user wrote
// is the only file that may hold the password.

import (
	"encoding/base64"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

const (
	tokenCanary = "ghp_TOKENcanary5fd0a1b2c3d4e5f60718"
	pwCanary    = "PWcanary-7c1e0d9b8a7f6e5d4c3b"
)

// secretForms are every form a leak could take.
func secretForms() []string {
	return []string{
		tokenCanary, pwCanary,
		base64.StdEncoding.EncodeToString([]byte("ci:" + pwCanary)),
		base64.StdEncoding.EncodeToString([]byte(pwCanary)),
		base64.StdEncoding.EncodeToString([]byte(tokenCanary)),
	}
}

func assertNoSecret(t *testing.T, where, s string) {
	t.Helper()
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "::add-mask::") {
			continue
		}
		for _, f := range secretForms() {
			if strings.Contains(line, f) {
				t.Errorf("secret form %q appears in %s: %q", f, where, line)
			}
		}
	}
}

// scanTree fails if any file under root holds a secret form.
func scanTree(t *testing.T, root string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		n++
		for _, f := range secretForms() {
			if strings.Contains(string(data), f) {
				t.Errorf("secret form %q written to %s", f, p)
			}
		}
		return nil
	})
	return n
}

func TestReliabilitySecretsNeverLeak(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{Htpasswd: map[string]string{"ci": pwCanary}})
	home := t.TempDir()
	t.Setenv("HOME", home)
	planDir := t.TempDir()
	planFile := synthPlan(t, planDir, stackPkgs(0, 64<<10), "")

	// Every status fault echoes the Authorization header; the manifest PUT
	// always fails, so every run ends in an error path after the blobs.
	p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(), EchoAuth: true, Rate: 0.2, Seed: 3,
		Kinds: []faultproxy.Kind{faultproxy.Status500, faultproxy.Status502, faultproxy.Status503, faultproxy.Status429},
		Rules: []*faultproxy.Rule{{Method: http.MethodPut, Path: regexp.MustCompile(`/manifests/`), Times: -1, Kind: faultproxy.Status400}},
	})
	p2 := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(), EchoAuth: true, Rate: 0.2, Seed: 4,
		Kinds: []faultproxy.Kind{faultproxy.Status503, faultproxy.Status429}})
	// The user's Docker config: the one file allowed to hold the password.
	dockerCfg := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + pwCanary))
	cfg := `{"auths":{"` + p.Host + `":{"auth":"` + auth + `"},"` + p2.Host + `":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dockerCfg, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dockerCfg)
	tmp := t.TempDir()

	// CLI.
	env := map[string]string{"GITHUB_TOKEN": tokenCanary, "RUNNER_TEMP": tmp}
	rep := filepath.Join(t.TempDir(), "r.json")
	stdout, stderr, err := runCLI(t, env, "build", "--plan", planFile, "--image", p.Ref("rel/secret:latest"), "--report", rep)
	if err == nil || !strings.Contains(err.Error(), "manifests") {
		t.Fatalf("push through a failing registry: %v, want the manifest PUT failure", err)
	}
	assertNoSecret(t, "CLI stdout", stdout)
	assertNoSecret(t, "CLI stderr", stderr)
	assertNoSecret(t, "CLI error", err.Error())
	if !strings.Contains(err.Error(), "Authorization: ***") {
		t.Errorf("the echoed header did not reach the error (nothing was tested): %v", err)
	}
	if _, statErr := os.Stat(rep); statErr == nil {
		t.Error("a report was written by a failed run")
	}

	// The same CLI run succeeding (echoing faults only, at random): the
	// report must not hold the secrets either.
	stdout, stderr, err = runCLI(t, env, "build", "--plan", planFile, "--image", p2.Ref("rel/secret:latest"), "--report", rep)
	if err != nil {
		t.Fatalf("push with retried echoing faults: %v\n%s", err, stderr)
	}
	data, _ := os.ReadFile(rep)
	assertNoSecret(t, "CLI stdout (success)", stdout)
	assertNoSecret(t, "CLI stderr (success)", stderr)
	assertNoSecret(t, "report", string(data))

	// Action mode, failing and echoing.
	ws := planDir
	r := runActionEnv(t, map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_WORKSPACE": ws, "RUNNER_TEMP": tmp,
		"INPUT_IMAGE": p.Ref("rel/secret-action:latest"), "INPUT_GITHUB-TOKEN": tokenCanary,
	})
	if r.err == nil {
		t.Fatal("action push through a failing registry succeeded")
	}
	if !strings.Contains(r.stdout, "::add-mask::"+tokenCanary) {
		t.Error("action mode did not mask the token")
	}
	if !strings.Contains(r.stdout, "::error") {
		t.Errorf("action failure not reported as an annotation:\n%s", r.stdout)
	}
	assertNoSecret(t, "action stdout", r.stdout)
	assertNoSecret(t, "action stderr", r.stderr)
	assertNoSecret(t, "action summary", r.summary)
	for k, v := range r.outputs {
		assertNoSecret(t, "action output "+k, v)
	}

	// Action mode succeeding.
	r = runActionEnv(t, map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_WORKSPACE": ws, "RUNNER_TEMP": tmp,
		"INPUT_IMAGE": p2.Ref("rel/secret-action:latest"), "INPUT_GITHUB-TOKEN": tokenCanary,
	})
	if r.err != nil {
		t.Fatalf("action push: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if r.outputs["digest"] == "" || r.summary == "" {
		t.Fatalf("action success without digest output or summary: %v", r.outputs)
	}
	assertNoSecret(t, "action stdout (success)", r.stdout)
	assertNoSecret(t, "action stderr (success)", r.stderr)
	assertNoSecret(t, "action summary (success)", r.summary)
	for k, v := range r.outputs {
		assertNoSecret(t, "action output "+k, v)
	}
	if p.Faults()+p2.Faults() == 0 {
		t.Fatal("no echoing fault was injected")
	}

	// Nothing on disk: HOME, the temp dir, the plan directory.
	files := scanTree(t, home) + scanTree(t, tmp) + scanTree(t, planDir)
	emptyDir(t, tmp)
	t.Logf("FIGURE secrets: echoing faults=%d (%s | %s); files scanned=%d", p.Faults()+p2.Faults(), p.Summary(), p2.Summary(), files)
}
