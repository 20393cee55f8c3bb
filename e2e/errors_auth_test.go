package e2e

// Errors that say what to do: a registry that wants credentials. The error
// names the registry and the repository and says where credentials come
// from, whether none were found or the ones found were refused.

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// dockerConfig writes a Docker config.json with user:password for host.
func dockerConfig(t *testing.T, host, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}}}
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestE2ERegistryAuthErrorsSayWhereCredentialsComeFrom(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{Htpasswd: map[string]string{"ci": "right"}})
	ref := reg.Ref("auth/app:latest")
	plan := quickstartPlan(t)
	build := func() error {
		_, _, err := runCLI(t, nil, "build", "--plan", plan, "--image", ref)
		return err
	}

	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials at all
	err := build()
	if err == nil {
		t.Fatal("push without credentials succeeded")
	}
	for _, want := range []string{
		"registry " + reg.Host + " refused pull access to auth/app (HTTP 401",
		"no credentials for " + reg.Host + " were found",
		"~/.docker/config.json (or config.json in $DOCKER_CONFIG)",
		"`docker login " + reg.Host + "`",
		"GITHUB_TOKEN is used for ghcr.io only",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no credentials: error lacks %q:\n%v", want, err)
		}
	}
	for _, avoid := range []string{"map[", "context canceled"} {
		if strings.Contains(err.Error(), avoid) {
			t.Errorf("no credentials: error has %q:\n%v", avoid, err)
		}
	}

	t.Setenv("DOCKER_CONFIG", dockerConfig(t, reg.Host, "ci", "wrong"))
	err = build()
	if err == nil || !strings.Contains(err.Error(), "with the credentials from the Docker config: check that they are current (`docker login "+reg.Host+"`)") {
		t.Errorf("wrong password: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong") {
		t.Errorf("the password is in the error: %v", err)
	}

	// The control: the right password pushes.
	t.Setenv("DOCKER_CONFIG", reg.DockerConfigDir(t, "ci"))
	if err := build(); err != nil {
		t.Errorf("with the right credentials: %v", err)
	}
}

// quickstartPlan is the bundled example (no Nix needed), copied so its
// relative paths still resolve.
func quickstartPlan(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../examples/quickstart")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeTreeWritable(dir) })
	return filepath.Join(dir, "nix-layers.yaml")
}
