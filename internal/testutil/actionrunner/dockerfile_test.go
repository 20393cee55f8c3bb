package actionrunner

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfilePinsBases checks that every FROM names a version tag and a
// digest, on one line, as scripts/action-image.sh needs to substitute it.
func TestDockerfilePinsBases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(RepoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[0-9][0-9A-Za-z.-]*@sha256:[0-9a-f]{64}$`)
	var refs []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		i := 1
		for i < len(f) && strings.HasPrefix(f[i], "--") {
			i++
		}
		if i == len(f) {
			t.Errorf("FROM without an image: %q", line)
			continue
		}
		refs = append(refs, f[i])
		if !pinned.MatchString(f[i]) {
			t.Errorf("FROM %s is not pinned by version and digest", f[i])
		}
	}
	if len(refs) != 2 || !strings.Contains(refs[0], "/golang:") || !strings.Contains(refs[1], "/nix:") {
		t.Errorf("FROM references %v, want a golang builder then nixos/nix", refs)
	}
}

// TestDockerfileNixConf checks that the image states, itself, each Nix
// setting the action relies on, and the git and HOME fixes.
func TestDockerfileNixConf(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(RepoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{
		"'experimental-features = nix-command flakes'",
		"'sandbox = false'",
		"'build-users-group = nixbld'",
		"'accept-flake-config = false'",
		"> /etc/nix/nix.conf",
		"'[safe]'", "'	directory = *'", "> /etc/gitconfig",
		"XDG_CACHE_HOME=", "XDG_CONFIG_HOME=", "XDG_DATA_HOME=", "XDG_STATE_HOME=",
		"ENV GITHUB_ACTIONS=true",
		`ENTRYPOINT ["/usr/local/bin/nix-layer-action"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(df, ">> /etc/nix/nix.conf") {
		t.Error("Dockerfile appends to the base image's nix.conf instead of writing its own")
	}
}
