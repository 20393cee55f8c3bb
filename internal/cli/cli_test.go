package cli

import (
	"bytes"
	"context"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// runArgs runs the command line with an empty environment.
func runArgs(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = Run(context.Background(), args, Env{Getenv: func(string) string { return "" }, Stdout: &o, Stderr: &e})
	return o.String(), e.String(), err
}

func TestVersion(t *testing.T) {
	old := version
	defer func() { version = old }()
	version = "v1.2.3"
	for _, arg := range []string{"--version", "-version", "version"} {
		out, _, err := runArgs(arg)
		if err != nil || out != "nix-layer-action v1.2.3\n" {
			t.Errorf("%s: %q %v", arg, out, err)
		}
	}
	for _, tt := range []struct {
		info debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, "devel+0123456789ab-dirty"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	} {
		if got := versionFrom(&tt.info); got != tt.want {
			t.Errorf("versionFrom(%+v) = %q, want %q", tt.info, got, tt.want)
		}
	}
}

// singleDash finds a flag written -flag (Go's flag package style).
var singleDash = regexp.MustCompile(`(^|[\s(\[,'"])-[a-z][a-z-]+`)

func TestHelpOnEveryCommand(t *testing.T) {
	for _, cmd := range []string{"build", "plan", "diff", "action"} {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			out, errOut, err := runArgs(args...)
			if err != nil || errOut != "" || !strings.HasPrefix(out, "usage: nix-layer-action "+cmd) || !strings.Contains(out, "--help") {
				t.Errorf("%v: err %v, stderr %q, stdout:\n%s", args, err, errOut, out)
			}
			if m := singleDash.FindString(out); m != "" {
				t.Errorf("%v: help spells a flag with one dash (%q):\n%s", args, m, out)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, _, err := runArgs(args...)
		if err != nil || !strings.Contains(out, "commands:") || !strings.Contains(out, "version") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	_, errOut, err := runArgs("build", "--plna", "x")
	if err == nil || !strings.Contains(errOut, "unknown flag --plna; did you mean --plan?") || strings.Contains(errOut, "flags:") {
		t.Errorf("unknown flag: %v\n%s", err, errOut)
	}
	_, errOut, _ = runArgs("diff", "--againts", "x")
	if !strings.Contains(errOut, "did you mean --against?") {
		t.Errorf("diff: %s", errOut)
	}
	_, errOut, _ = runArgs("build", "--jobs", "many")
	if !strings.Contains(errOut, `invalid value "many" for flag --jobs`) {
		t.Errorf("bad value: %s", errOut)
	}
	_, errOut, _ = runArgs("build", "--zzzzzz")
	if !strings.Contains(errOut, "unknown flag --zzzzzz\n") {
		t.Errorf("nothing near: %s", errOut)
	}
	_, _, err = runArgs("buidl")
	if err == nil || !strings.Contains(err.Error(), `unknown command "buidl"; did you mean "build"?`) {
		t.Errorf("unknown command: %v", err)
	}
	_, _, err = runArgs("--plan", "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "flags follow a command") {
		t.Errorf("flag before the command: %v", err)
	}
	if d := levenshtein("kitten", "sitting"); d != 3 {
		t.Errorf("levenshtein = %d", d)
	}
}

func TestImageReferenceMistakes(t *testing.T) {
	plan := "../../examples/quickstart/nix-layers.yaml"
	for _, tt := range []struct{ image, want string }{
		{"ghcr.io/Org/App:latest", `build: --image: repository names must be lowercase: write "ghcr.io/org/app:latest"`},
		{"http://127.0.0.1:5000/a/b", `build: --image: an image reference has no URL scheme: write "127.0.0.1:5000/a/b" (drop http://; registries on 127.0.0.1 or localhost are reached over plain HTTP automatically)`},
		{"HTTPS://ghcr.io/Acme/App:v1", `build: --image: an image reference has no URL scheme: write "ghcr.io/acme/app:v1" (drop HTTPS://; registries on 127.0.0.1 or localhost are reached over plain HTTP automatically)`},
	} {
		_, _, err := runArgs("build", "--plan", plan, "--image", tt.image)
		if err == nil || err.Error() != tt.want {
			t.Errorf("--image %s:\n got %v\nwant %s", tt.image, err, tt.want)
		}
	}
	_, _, err := runArgs("diff", "--plan", plan, "--against", "https://ghcr.io/acme/app")
	if err == nil || !strings.HasPrefix(err.Error(), `diff: --against: an image reference has no URL scheme: write "ghcr.io/acme/app"`) {
		t.Errorf("diff --against https://…: %v", err)
	}
}

func TestOutputMistakesNameTheFlagOnce(t *testing.T) {
	plan := "../../examples/quickstart/nix-layers.yaml"
	for _, tt := range []struct{ out, want string }{
		{"oci:", `build: --output "oci:": oci needs a path, e.g. oci:./out`},
		{"s3:bucket", `build: --output "s3:bucket": unknown destination; want "registry", "oci:DIR[:TAG]" or "docker-archive:FILE"`},
	} {
		_, _, err := runArgs("build", "--plan", plan, "--output", tt.out)
		if err == nil || err.Error() != tt.want {
			t.Errorf("--output %s:\n got %v\nwant %s", tt.out, err, tt.want)
		}
	}
}

// The action's log starts with the version, before anything can fail.
func TestActionLogStartsWithTheVersion(t *testing.T) {
	old := version
	defer func() { version = old }()
	version = "v9.8.7"
	var o, e bytes.Buffer
	env := map[string]string{"GITHUB_ACTIONS": "true"}
	_ = Run(context.Background(), nil, Env{Getenv: func(k string) string { return env[k] }, Stdout: &o, Stderr: &e})
	if first, _, _ := strings.Cut(o.String(), "\n"); first != "nix-layer-action v9.8.7" {
		t.Errorf("first line of the action log %q\n%s", first, o.String())
	}
}

// A wrong --shard is one clear error naming the flag, before any work
// (the plan file does not even exist), and --shard refuses what a part
// pushed by digest cannot do.
func TestShardFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "0/2"}, `build: --shard: "0/2" is not a shard: I must be from 1 to N (2)`},
		{[]string{"--shard", "3/2"}, `build: --shard: "3/2" is not a shard: I must be from 1 to N (2)`},
		{[]string{"--shard", "a/b"}, `build: --shard: "a/b" is not a shard: I ("a") is not a number`},
		{[]string{"--shard", "1/2", "--tag", "v1"}, "build: --shard 1/2 pushes a part of the image by digest, so --tag cannot be used"},
		{[]string{"--shard", "1/2", "--output", "oci:out"}, "build: --shard 1/2 pushes its part to a registry by digest, not to --output oci:out"},
		{[]string{"--shard", "1/2", "--push=false"}, "build: --shard 1/2 pushes its part by digest; --push=false contradicts it"},
	} {
		args := append([]string{"build", "--plan", "/nonexistent/plan.yaml", "--image", "127.0.0.1:1/app:latest"}, tt.args...)
		_, _, err := runArgs(args...)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v: %v\nwant an error starting %q", tt.args, err, tt.want)
		}
	}
}
