package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/report"
)

const canary = "ghs_CANARYtoken0123456789abcdefXYZ"

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// cannedReport is what a real build would return for a PR that bumps torch.
func cannedReport(req Request) *report.Report {
	prev := []report.LayerPaths{
		{Name: "base", Key: "kb", Paths: []report.PathSize{{Path: "/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-glibc-2.39-52", NarSize: 30 << 20}}},
		{Name: "ml", Key: "km1", Paths: []report.PathSize{{Path: "/nix/store/1c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-torch-2.9.0", NarSize: 1 << 30}}},
	}
	next := []report.LayerPaths{
		prev[0],
		{Name: "ml", Key: "km2", Paths: []report.PathSize{{Path: "/nix/store/2c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-torch-2.10.0", NarSize: 1<<30 + 50<<20}}},
	}
	return &report.Report{
		Image: req.Image + ":pr-42", Digest: digest('d'), Changed: true, BytesPushed: 400 << 20,
		Push: req.Push, Tags: req.Tags, PreviousDigest: digest('p'), PreviousSize: 700 << 20,
		CumulativeSize: 2 << 30,
		Layers: []report.Layer{
			{Name: "base", Digest: digest('1'), DiffID: digest('a'), Size: 300 << 20, UncompressedSize: 900 << 20, Key: "kb", Status: report.StatusCached,
				Paths: []string{prev[0].Paths[0].Path}, Previous: &report.PrevLayer{Digest: digest('1'), Key: "kb", Size: 300 << 20}},
			{Name: "ml", Digest: digest('2'), DiffID: digest('b'), Size: 400 << 20, UncompressedSize: 1200 << 20, Key: "km2", Status: report.StatusPushed,
				Paths: []string{next[1].Paths[0].Path}, Previous: &report.PrevLayer{Digest: digest('3'), Key: "km1", Size: 380 << 20}},
			{Name: "app", Digest: digest('4'), DiffID: digest('c'), Size: 1 << 20, UncompressedSize: 3 << 20, Key: "ka", Status: report.StatusExists,
				Paths: []string{"/nix/store/3c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-app-1.0"}},
		},
		Diff: report.ComputeDiff(prev, next),
		// A careless component leaking the token must not reach any output.
		Warnings: []string{"registry said: bad auth for token " + req.GitHubToken},
	}
}

type env struct {
	vars    map[string]string
	dir     string
	output  string
	summary string
}

func newEnv(t *testing.T, apiURL string) *env {
	t.Helper()
	dir := t.TempDir()
	ws := filepath.Join(dir, "workspace")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile(filepath.Join("testdata", "pull_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, output: filepath.Join(dir, "output"), summary: filepath.Join(dir, "summary")}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil { // RUNNER_TEMP, mounted
		t.Fatal(err)
	}
	for _, f := range []string{e.output, e.summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.vars = map[string]string{
		"GITHUB_ACTIONS":      "true",
		"CI":                  "true",
		"GITHUB_WORKSPACE":    ws,
		"GITHUB_REPOSITORY":   "Octo-Org/Hello-World",
		"GITHUB_EVENT_NAME":   "pull_request",
		"GITHUB_EVENT_PATH":   event,
		"GITHUB_OUTPUT":       e.output,
		"GITHUB_STEP_SUMMARY": e.summary,
		"GITHUB_API_URL":      apiURL,
		"GITHUB_SERVER_URL":   "https://github.com",
		"RUNNER_TEMP":         filepath.Join(dir, "tmp"),
		// Inputs as the runner passes them (hyphens kept, upper case).
		"INPUT_PLAN":           "nix-layers.yaml",
		"INPUT_TAGS":           "pr-42\n  sha-c5b97d5\n\n",
		"INPUT_PUSH":           "true",
		"INPUT_CACHE-FROM":     "ghcr.io/octo-org/hello-world:main",
		"INPUT_GITHUB-TOKEN":   canary,
		"INPUT_NIX-CONF":       "substituters = https://cache.nixos.org\naccess-tokens = github.com=ghp_NIXCONFsecret123",
		"INPUT_SUMMARY":        "true",
		"INPUT_MAX-LAYER-SIZE": "10GB",
		"INPUT_MAX-GROWTH":     "+50%",
		"INPUT_LABELS":         "org.opencontainers.image.source=https://github.com/Octo-Org/Hello-World\nteam = ml",
		"INPUT_ANNOTATIONS":    "org.opencontainers.image.description=demo",
	}
	return e
}

func (e *env) getenv(k string) string { return e.vars[k] }

func (e *env) run(t *testing.T, hc *http.Client, b Builder) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), Options{Getenv: e.getenv, Stdout: &out, HTTPClient: hc, Build: b})
	return out.String(), err
}

// readOutputs parses the GITHUB_OUTPUT file ("name<<DELIM\nvalue\nDELIM\n").
func readOutputs(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			if lines[i] != "" {
				t.Fatalf("unexpected output line %q", lines[i])
			}
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// Runners before v2.331 do not mount RUNNER_TEMP into container actions:
// the build then uses the system temp dir, and the log says so.
func TestRunMissingRunnerTemp(t *testing.T) {
	_, srv := newFakeGitHub(t, "Octo-Org", "Hello-World", canary)
	e := newEnv(t, srv.URL)
	e.vars["RUNNER_TEMP"] = filepath.Join(e.dir, "not-mounted")
	var got Request
	stdout, err := e.run(t, srv.Client(), func(ctx context.Context, req Request) (*report.Report, error) {
		got = req
		return cannedReport(req), nil
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stdout)
	}
	if got.TempDir != "" || !strings.Contains(stdout, "RUNNER_TEMP "+e.vars["RUNNER_TEMP"]+" is not available") {
		t.Errorf("TempDir %q; log:\n%s", got.TempDir, stdout)
	}
}

func TestRunPullRequest(t *testing.T) {
	gh, srv := newFakeGitHub(t, "Octo-Org", "Hello-World", canary)
	e := newEnv(t, srv.URL)
	var got Request
	build := func(ctx context.Context, req Request) (*report.Report, error) {
		got = req
		return cannedReport(req), nil
	}
	stdout, err := e.run(t, srv.Client(), build)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stdout)
	}

	// The request the pipeline receives.
	ws := e.vars["GITHUB_WORKSPACE"]
	if got.PlanFile != filepath.Join(ws, "nix-layers.yaml") || got.Image != "ghcr.io/octo-org/hello-world" ||
		strings.Join(got.Tags, ",") != "pr-42,sha-c5b97d5" || !got.Push || got.GitHubToken != canary ||
		strings.Join(got.CacheFrom, ",") != "ghcr.io/octo-org/hello-world:main" ||
		got.Labels["team"] != "ml" || got.Labels["org.opencontainers.image.source"] != "https://github.com/Octo-Org/Hello-World" ||
		got.Annotations["org.opencontainers.image.description"] != "demo" ||
		!strings.Contains(got.NixConf, "substituters") || got.TempDir != e.vars["RUNNER_TEMP"] {
		t.Errorf("request = %+v", got)
	}

	outs := readOutputs(t, e.output)
	want := map[string]string{
		"digest":        digest('d'),
		"image":         "ghcr.io/octo-org/hello-world@" + digest('d'),
		"layers-pushed": "1",
		"layers-cached": "2",
		"bytes-pushed":  fmt.Sprint(400 << 20),
		"changed":       "true",
	}
	for k, v := range want {
		if outs[k] != v {
			t.Errorf("output %s = %q, want %q", k, outs[k], v)
		}
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte(outs["metadata"]), &meta); err != nil {
		t.Fatalf("metadata is not JSON: %v\n%s", err, outs["metadata"])
	}
	if meta["digest"] != digest('d') || len(meta["layers"].([]any)) != 3 {
		t.Errorf("metadata = %v", meta)
	}
	if len(outs) != len(OutputNames) {
		t.Errorf("got %d outputs, want %d: %v", len(outs), len(OutputNames), outs)
	}

	summary, _ := os.ReadFile(e.summary)
	for _, s := range []string{
		"| # | Layer | Store paths | Uncompressed | Compressed | Δ vs previous | Status |",
		"| 2 | `ml` | 1 | 1.2 GiB | 400.0 MiB | +20.0 MiB | pushed |",
		"| Image size | 701.0 MiB in 3 layers |",
		"**Digest:** `" + digest('d') + "`",
		"[Package](https://github.com/Octo-Org/Hello-World/pkgs/container/hello-world)",
	} {
		if !strings.Contains(string(summary), s) {
			t.Errorf("summary lacks %q:\n%s", s, summary)
		}
	}
	if strings.Contains(string(summary), report.PRCommentMarker) {
		t.Error("comment was posted, so it should not be in the summary")
	}

	// The sticky comment, on the PR number from the payload.
	cs := gh.onIssue(42)
	if len(cs) != 1 || !strings.HasPrefix(cs[0].Body, report.PRCommentMarker) || !strings.Contains(cs[0].Body, "`torch` 2.9.0 → 2.10.0") {
		t.Fatalf("comments on #42: %+v", cs)
	}
	for _, g := range []string{"::group::Build ghcr.io/octo-org/hello-world", "::endgroup::", "::group::Pull request comment", "created PR comment"} {
		if !strings.Contains(stdout, g) {
			t.Errorf("stdout lacks %q:\n%s", g, stdout)
		}
	}

	// Second run edits the same comment.
	stdout2, err := e.run(t, srv.Client(), build)
	if err != nil {
		t.Fatal(err)
	}
	if cs2 := gh.onIssue(42); len(cs2) != 1 || cs2[0].ID != cs[0].ID || !strings.Contains(stdout2, "updated PR comment") {
		t.Errorf("second run: comments %+v\n%s", cs2, stdout2)
	}

	// The token never leaks, except inside the ::add-mask:: command.
	outData, _ := os.ReadFile(e.output)
	summary, _ = os.ReadFile(e.summary)
	for _, secret := range []string{canary, "ghp_NIXCONFsecret123"} {
		for _, so := range []string{stdout, stdout2} {
			if n, m := strings.Count(so, secret), strings.Count(so, "::add-mask::"+secret+"\n"); n != 1 || m != 1 {
				t.Errorf("secret %q appears %d times in stdout (%d as add-mask):\n%s", secret, n, m, so)
			}
			if !strings.HasPrefix(so, "::add-mask::") {
				t.Error("masking must come first")
			}
		}
		for name, s := range map[string]string{"outputs": string(outData), "summary": string(summary), "comment": strings.Join(gh.bodies, "\n")} {
			if strings.Contains(s, secret) || strings.Contains(s, report.Inert(secret)) {
				t.Errorf("secret leaked into %s", name)
			}
		}
	}
	if !strings.Contains(string(summary), report.Inert("bad auth for token ***")) { // "\\*\\*\\*": renders as ***
		t.Error("warning with the token should be present, redacted")
	}
}

func TestRunForkPRFallsBackToSummary(t *testing.T) {
	gh, srv := newFakeGitHub(t, "Octo-Org", "Hello-World", canary)
	gh.status = http.StatusForbidden
	e := newEnv(t, srv.URL)
	stdout, err := e.run(t, srv.Client(), func(ctx context.Context, req Request) (*report.Report, error) {
		return cannedReport(req), nil
	})
	if err != nil {
		t.Fatalf("a read-only token must not fail the step: %v", err)
	}
	if !strings.Contains(stdout, "::notice::cannot comment on PR #42: HTTP 403") {
		t.Errorf("no notice:\n%s", stdout)
	}
	summary, _ := os.ReadFile(e.summary)
	if !strings.Contains(string(summary), report.PRCommentMarker) || !strings.Contains(string(summary), "`torch` 2.9.0 → 2.10.0") {
		t.Errorf("summary lacks the package diff:\n%s", summary)
	}
	if strings.Contains(stdout, canary[4:]) && strings.Count(stdout, canary) != 1 {
		t.Error("token leaked")
	}
}

func TestRunPolicyFailure(t *testing.T) {
	_, srv := newFakeGitHub(t, "Octo-Org", "Hello-World", canary)
	e := newEnv(t, srv.URL)
	e.vars["INPUT_MAX-LAYER-SIZE"] = "350MiB"
	e.vars["INPUT_MAX-GROWTH"] = "+10%"
	stdout, err := e.run(t, srv.Client(), func(ctx context.Context, req Request) (*report.Report, error) {
		r := cannedReport(req)
		r.PreviousSize = 500 << 20 // now 701 MiB: +40%
		return r, nil
	})
	var pf *PolicyFailure
	if !errors.As(err, &pf) {
		t.Fatalf("want *PolicyFailure, got %v", err)
	}
	var pe *report.PolicyError
	if !errors.As(err, &pe) || pe.Layer != "ml" {
		t.Errorf("policy error should name layer ml: %v", err)
	}
	if !strings.Contains(stdout, `::error::layer "ml" is 400.0 MiB compressed`) {
		t.Errorf("no error annotation:\n%s", stdout)
	}
	if !strings.Contains(stdout, `::error::image grew by +201.0 MiB (500.0 MiB → 701.0 MiB, +40.2%25), over max-growth +10%25 (+50.0 MiB); largest growth: layer "ml" +20.0 MiB`) {
		t.Errorf("no growth annotation:\n%s", stdout)
	}
	summary, _ := os.ReadFile(e.summary)
	if !strings.Contains(string(summary), "Policy check failed") || !strings.Contains(string(summary), `layer "ml"`) {
		t.Errorf("summary lacks the policy failure:\n%s", summary)
	}
	if outs := readOutputs(t, e.output); outs["digest"] != digest('d') {
		t.Error("outputs must be set even when the policy fails")
	}
}

func TestRunPlanErrorAnnotation(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	stdout, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
		return nil, fmt.Errorf("loading plan: %w", &plan.Error{File: req.PlanFile, Line: 7, Column: 9, Field: "layers[1].name", Msg: `duplicate layer name "cuda" (first at line 3)`})
	})
	var pe *plan.Error
	if !errors.As(err, &pe) {
		t.Fatalf("plan error must stay inspectable: %v", err)
	}
	wantLine := `::error col=9,file=nix-layers.yaml,line=7,title=nix-layer-action plan error::layers[1].name: duplicate layer name "cuda" (first at line 3)`
	if !strings.Contains(stdout, wantLine) {
		t.Errorf("stdout lacks\n%s\ngot:\n%s", wantLine, stdout)
	}
}

func TestRunBuildErrorRedacted(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	stdout, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
		return nil, fmt.Errorf("GET https://ghcr.io/token?x=%s: unauthorized", req.GitHubToken)
	})
	if err == nil || strings.Contains(err.Error(), canary) || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("error = %v", err)
	}
	if strings.Count(stdout, canary) != 1 || !strings.Contains(stdout, "::error::GET https://ghcr.io/token?x=***: unauthorized") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestRunWithoutFileCommands(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	delete(e.vars, "GITHUB_OUTPUT")
	delete(e.vars, "GITHUB_STEP_SUMMARY")
	e.vars["GITHUB_EVENT_NAME"] = "push"
	stdout, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
		return cannedReport(req), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"digest=" + digest('d'), "changed=true", "layers-pushed=1", "digest: " + digest('d')} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	if !strings.Contains(stdout, "policy: max-layer-size 9.3 GiB, max-growth +50%: ok") {
		t.Errorf("policy result not logged:\n%s", stdout)
	}
	if strings.Contains(stdout, "Pull request comment") {
		t.Error("no PR comment on push events")
	}
}

func TestRunInputErrors(t *testing.T) {
	cases := map[string]string{
		"INPUT_PUSH":           "yes",
		"INPUT_MAX-LAYER-SIZE": "big",
		"INPUT_MAX-GROWTH":     "lots",
		"INPUT_LABELS":         "novalue",
		"INPUT_SYSTEM":         "aarch64-darwin",
		"INPUT_PUSH-BY-DIGEST": "maybe",
		"INPUT_COMPRESSION":    "xz",
		"INPUT_SHARD":          "0/2",
		"INPUT_LAYER-FILES":    "no",
	}
	for k, v := range cases {
		e := newEnv(t, "http://127.0.0.1:1")
		e.vars[k] = v
		called := false
		stdout, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
			called = true
			return cannedReport(req), nil
		})
		var ie *InputError
		if !errors.As(err, &ie) || called || !strings.Contains(stdout, "::error::input") {
			t.Errorf("%s=%q: err=%v called=%v\n%s", k, v, err, called, stdout)
		}
	}
	e := newEnv(t, "")
	delete(e.vars, "INPUT_PUSH")
	delete(e.vars, "GITHUB_REPOSITORY")
	if _, err := e.run(t, nil, func(context.Context, Request) (*report.Report, error) { return nil, nil }); err == nil {
		t.Error("no image and no GITHUB_REPOSITORY accepted")
	}
	if err := Run(context.Background(), Options{}); err == nil {
		t.Error("empty Options accepted")
	}
}

func TestDefaults(t *testing.T) {
	get := func(string) string { return "" }
	env := map[string]string{"GITHUB_REPOSITORY": "Octo-Org/Hello-World", "GITHUB_WORKSPACE": "/github/workspace"}
	s, err := parseInputs(get, func(k string) string { return env[k] }, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.req.PlanFile != "/github/workspace/nix-layers.yaml" || s.req.Image != "ghcr.io/octo-org/hello-world" ||
		!s.req.Push || !s.req.LayerFiles || !s.summary || !s.prComment || s.maxLayerSize != 10_000_000_000 || s.maxGrowth != "" {
		t.Errorf("defaults = %+v", s)
	}
	s, _ = parseInputs(get, func(k string) string { return env[k] }, false)
	if s.prComment {
		t.Error("pr-comment defaults to false outside pull_request events")
	}
}

// The compression input reaches the build as a layer format; a bad one
// is an error naming the input, before any build.
func TestCompressionInput(t *testing.T) {
	for in, want := range map[string]layer.Format{"": layer.DefaultFormat, "gzip": layer.DefaultFormat, "zstd": layer.ZstdFormat, " zstd\n": layer.ZstdFormat, "zstd:chunked": layer.ZstdChunkedFormat} {
		e := newEnv(t, "http://127.0.0.1:1")
		e.vars["INPUT_COMPRESSION"] = in
		e.vars["INPUT_PR-COMMENT"] = "false"
		var got layer.Format
		if _, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
			got = req.Format
			return cannedReport(req), nil
		}); err != nil && !errors.As(err, new(*PolicyFailure)) {
			t.Fatalf("compression %q: %v", in, err)
		}
		if got != want {
			t.Errorf("compression %q: format %+v, want %+v", in, got, want)
		}
	}
	e := newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_COMPRESSION"] = "ZSTD"
	stdout, err := e.run(t, nil, func(context.Context, Request) (*report.Report, error) {
		t.Error("built despite a bad compression input")
		return nil, nil
	})
	if err == nil || !strings.Contains(stdout, `::error::input "compression": unknown compression "ZSTD": want gzip, zstd or zstd:chunked`) {
		t.Errorf("err %v, stdout:\n%s", err, stdout)
	}
}

func TestDigestRef(t *testing.T) {
	cases := map[string]string{
		"ghcr.io/o/r":                "ghcr.io/o/r@sha256:x",
		"ghcr.io/o/r:tag":            "ghcr.io/o/r@sha256:x",
		"localhost:5000/o/r:tag":     "localhost:5000/o/r@sha256:x",
		"ghcr.io/o/r@" + digest('e'): "ghcr.io/o/r@sha256:x",
	}
	for in, want := range cases {
		if got := DigestRef(in, "sha256:x"); got != want {
			t.Errorf("DigestRef(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunPushByDigestInputs: push-by-digest and system reach the build;
// contradictory combinations fail before it.
func TestRunPushByDigestInputs(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	delete(e.vars, "INPUT_TAGS")
	e.vars["INPUT_PUSH-BY-DIGEST"] = "true"
	e.vars["INPUT_SYSTEM"] = "aarch64-linux"
	var got Request
	if _, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
		got = req
		return cannedReport(req), nil
	}); err != nil {
		t.Fatal(err)
	}
	if !got.PushByDigest || got.System != "aarch64-linux" {
		t.Errorf("request %+v", got)
	}
	for name, vars := range map[string]map[string]string{
		"with tags":    {"INPUT_PUSH-BY-DIGEST": "true", "INPUT_TAGS": "v1"},
		"without push": {"INPUT_PUSH-BY-DIGEST": "true", "INPUT_PUSH": "false", "INPUT_TAGS": ""},
		"and merge":    {"INPUT_PUSH-BY-DIGEST": "true", "INPUT_TAGS": "", "INPUT_MERGE": digest('a')},
	} {
		e := newEnv(t, "http://127.0.0.1:1")
		maps.Copy(e.vars, vars)
		called := false
		_, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
			called = true
			return cannedReport(req), nil
		})
		var ie *InputError
		if !errors.As(err, &ie) || called {
			t.Errorf("%s: err=%v called=%v", name, err, called)
		}
	}
}

// TestRunMerge: with merge set nothing is built; the merger gets every
// digest (lines, commas, spaces) and the outputs and summary name the
// index and its platforms.
func TestRunMerge(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_IMAGE"] = "ghcr.io/octo-org/hello-world:latest"
	e.vars["INPUT_MERGE"] = digest('a') + ", " + digest('b') + "\n" + digest('c') + "\n"
	var got MergeRequest
	var out bytes.Buffer
	err := Run(context.Background(), Options{Getenv: e.getenv, Stdout: &out,
		Build: func(context.Context, Request) (*report.Report, error) {
			t.Fatal("merge built an image")
			return nil, nil
		},
		Merge: func(ctx context.Context, req MergeRequest) (*MergeResult, error) {
			got = req
			return &MergeResult{Digest: digest('i'), Changed: true, Children: []Merged{
				{Platform: "linux/amd64", Digest: digest('a')}, {Platform: "linux/arm64", Digest: digest('b')}}}, nil
		}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if want := []string{digest('a'), digest('b'), digest('c')}; !slices.Equal(got.Digests, want) || got.Image != e.vars["INPUT_IMAGE"] {
		t.Errorf("merge request %+v, want digests %v", got, want)
	}
	outs := readOutputs(t, e.output)
	if outs["digest"] != digest('i') || outs["image"] != "ghcr.io/octo-org/hello-world@"+digest('i') || outs["changed"] != "true" {
		t.Errorf("outputs %v", outs)
	}
	sum, _ := os.ReadFile(e.summary)
	if !strings.Contains(string(sum), "| linux/arm64 | `"+digest('b')+"` |") || strings.Contains(string(sum), canary) {
		t.Errorf("summary:\n%s", sum)
	}
}

// TestRunMatrixPRCommentPerPlatform: in a build matrix (system set) each
// platform keeps its own sticky comment; rerunning one platform updates
// its comment and leaves the other's alone.
func TestRunMatrixPRCommentPerPlatform(t *testing.T) {
	gh, srv := newFakeGitHub(t, "Octo-Org", "Hello-World", canary)
	runFor := func(system, platform string) {
		t.Helper()
		e := newEnv(t, srv.URL)
		e.vars["INPUT_SYSTEM"] = system
		e.vars["INPUT_PR-COMMENT"] = "true"
		if out, err := e.run(t, srv.Client(), func(ctx context.Context, req Request) (*report.Report, error) {
			rep := cannedReport(req)
			rep.Platform = platform
			return rep, nil
		}); err != nil {
			t.Fatalf("%s: %v\n%s", system, err, out)
		}
	}
	runFor("x86_64-linux", "linux/amd64")
	runFor("aarch64-linux", "linux/arm64")
	runFor("x86_64-linux", "linux/amd64")
	cs := gh.onIssue(42)
	if len(cs) != 2 {
		t.Fatalf("want one comment per platform, got %d: %+v", len(cs), cs)
	}
	for i, plat := range []string{"linux/amd64", "linux/arm64"} {
		if !strings.HasPrefix(cs[i].Body, report.PRCommentMarkerFor(plat)) || !strings.Contains(cs[i].Body, "("+plat+")") {
			t.Errorf("comment %d is not %s's:\n%s", i, plat, cs[i].Body)
		}
		if strings.Contains(cs[i].Body, report.PRCommentMarker) {
			t.Errorf("a platform's comment carries the single-image marker:\n%s", cs[i].Body)
		}
	}
}

// shard: I/N implies push-by-digest; a wrong value or a contradicting
// input is one error naming the input.
func TestShardInput(t *testing.T) {
	env := func(k string) string { return map[string]string{"GITHUB_REPOSITORY": "octo/app"}[k] }
	parse := func(in map[string]string) (*settings, error) {
		return parseInputs(func(k string) string { return in[k] }, env, false)
	}
	s, err := parse(map[string]string{"shard": "2/4"})
	if err != nil || s.req.Shard.String() != "2/4" || !s.req.PushByDigest {
		t.Fatalf("shard 2/4: %+v, %v; want part 2 of 4 pushed by digest", s, err)
	}
	if s, err := parse(map[string]string{"shard": "1/1"}); err != nil || s.req.Shard.Split() || s.req.PushByDigest {
		t.Errorf("shard 1/1 is the whole build: %+v, %v", s, err)
	}
	for _, in := range []map[string]string{
		{"shard": "0/2"}, {"shard": "3/2"}, {"shard": "a/b"},
		{"shard": "1/2", "tags": "v1"}, {"shard": "1/2", "push": "false"}, {"shard": "1/2", "merge": "sha256:abc"},
	} {
		_, err := parse(in)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Input != "shard" || !strings.HasPrefix(err.Error(), `input "shard": `) {
			t.Errorf("%v: %v; want an error naming input shard", in, err)
		}
	}
}
