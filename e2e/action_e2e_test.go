package e2e

// The action run end to end as the runner runs it: INPUT_* variables,
// GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and a real pull_request payload, the
// real registry, real Nix closures, and a GitHub REST stand-in for the
// sticky PR comment.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/org/nix-layer-action/internal/cli"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

const canary = "ghs_CANARYtoken0123456789abcdefXYZ"

// fakeGitHub speaks the three REST calls of the sticky comment.
type fakeGitHub struct {
	mu       sync.Mutex
	comments map[int64]string
	nextID   int64
	creates  int
	edits    int
	authOK   bool
}

func (f *fakeGitHub) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	auth := func(r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+canary || r.Header.Get("Authorization") == "token "+canary {
			f.mu.Lock()
			f.authOK = true
			f.mu.Unlock()
		}
	}
	mux.HandleFunc("GET /repos/org/repo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		auth(r)
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []map[string]any
		for id, body := range f.comments {
			out = append(out, map[string]any{"id": id, "body": body, "user": map[string]any{"login": "github-actions[bot]"}})
		}
		if out == nil {
			out = []map[string]any{}
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /repos/org/repo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		auth(r)
		var in struct{ Body string }
		json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.nextID++
		f.comments[f.nextID] = in.Body
		f.creates++
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": f.nextID, "body": in.Body})
	})
	mux.HandleFunc("PATCH /repos/org/repo/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		auth(r)
		var in struct{ Body string }
		json.NewDecoder(r.Body).Decode(&in)
		var id int64
		fmt.Sscan(r.PathValue("id"), &id)
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.comments[id]; !ok {
			http.NotFound(w, r)
			return
		}
		f.comments[id] = in.Body
		f.edits++
		json.NewEncoder(w).Encode(map[string]any{"id": id, "body": in.Body})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected GitHub API call %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	return mux
}

type actionRun struct {
	stdout, stderr string
	outputs        map[string]string
	summary        string
	err            error
}

// runAction runs the binary's action mode in-process with a runner-like
// environment.
func runActionEnv(t *testing.T, env map[string]string) actionRun {
	t.Helper()
	dir := t.TempDir()
	outFile := filepath.Join(dir, "output")
	sumFile := filepath.Join(dir, "summary")
	os.WriteFile(outFile, nil, 0o644)
	os.WriteFile(sumFile, nil, 0o644)
	full := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       outFile,
		"GITHUB_STEP_SUMMARY": sumFile,
		"GITHUB_REPOSITORY":   "org/repo",
		"GITHUB_SERVER_URL":   "https://github.com",
		"RUNNER_TEMP":         t.TempDir(),
	}
	for k, v := range env {
		full[k] = v
	}
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), nil, cli.Env{Getenv: func(k string) string { return full[k] }, Stdout: &stdout, Stderr: &stderr})
	outs := parseOutputs(t, outFile)
	sum, _ := os.ReadFile(sumFile)
	return actionRun{stdout.String(), stderr.String(), outs, string(sum), err}
}

// parseOutputs reads GITHUB_OUTPUT's heredoc format.
func parseOutputs(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if k, delim, ok := strings.Cut(l, "<<"); ok {
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			outs[k] = strings.Join(val, "\n")
		} else if k, v, ok := strings.Cut(l, "="); ok {
			outs[k] = v
		}
	}
	return outs
}

func assertNoCanary(t *testing.T, where string, s string) {
	t.Helper()
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "::add-mask::") {
			continue
		}
		if strings.Contains(line, canary) {
			t.Errorf("the token appears in %s: %q", where, line)
		}
	}
}

func TestE2EActionPushThenPullRequestCheck(t *testing.T) {
	testutil.Short(t)
	_, _, planFile := setupSeed(t, nixfix.Options{Packages: 3})
	reg := registry.Start(t, registry.Options{})
	image := reg.Ref("org/repo")
	gh := &fakeGitHub{comments: map[int64]string{}}
	api := httptest.NewServer(gh.handler(t))
	defer api.Close()
	workspace := filepath.Dir(planFile)

	// 1. push on main: builds, pushes, outputs, summary.
	push := runActionEnv(t, map[string]string{
		"GITHUB_EVENT_NAME":    "push",
		"GITHUB_WORKSPACE":     workspace,
		"INPUT_PLAN":           "nix-layers.yaml",
		"INPUT_IMAGE":          image,
		"INPUT_TAGS":           "nightly\n",
		"INPUT_GITHUB-TOKEN":   canary,
		"INPUT_LABELS":         "org.opencontainers.image.revision=abc123",
		"INPUT_MAX-GROWTH":     "+50%",
		"INPUT_SUMMARY":        "true",
		"INPUT_PUSH":           "true",
		"INPUT_MAX-LAYER-SIZE": "10GB",
	})
	if push.err != nil {
		t.Fatalf("action push: %v\nstdout:\n%s\nstderr:\n%s", push.err, push.stdout, push.stderr)
	}
	digest := push.outputs["digest"]
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("digest output %q; outputs %v", digest, push.outputs)
	}
	if got, want := push.outputs["image"], image+"@"+digest; got != want {
		t.Errorf("image output %q, want %q", got, want)
	}
	if push.outputs["changed"] != "true" || push.outputs["layers-pushed"] != "5" || push.outputs["layers-cached"] != "0" {
		t.Errorf("outputs changed=%s layers-pushed=%s layers-cached=%s, want true/5/0", push.outputs["changed"], push.outputs["layers-pushed"], push.outputs["layers-cached"])
	}
	var meta report.Report
	if err := json.Unmarshal([]byte(push.outputs["metadata"]), &meta); err != nil || meta.Digest != digest {
		t.Errorf("metadata output is not the report (%v): %.200s", err, push.outputs["metadata"])
	}
	if push.outputs["bytes-pushed"] == "0" || push.outputs["bytes-pushed"] != fmt.Sprint(meta.BytesPushed) {
		t.Errorf("bytes-pushed %s, report %d", push.outputs["bytes-pushed"], meta.BytesPushed)
	}
	checkSummaryTable(t, push.summary, []string{"base", "cuda", "torch", "paks", "app"}, "pushed")
	for _, g := range []string{"::group::Resolve plan and closures", "::group::Read previous images", "::group::Reuse or build layers", "::group::Publish registry", "::group::Outputs"} {
		if !strings.Contains(push.stdout, g) {
			t.Errorf("no %q log group in the action log", g)
		}
	}
	// The label input reached the image, and the extra tag exists.
	skopeo := testutil.RequireTool(t, "skopeo")
	cfg := run(t, skopeo, "inspect", "--tls-verify=false", "--config", "docker://"+image+":nightly")
	if !strings.Contains(cfg, "abc123") {
		t.Errorf("label input missing from the image config: %.300s", cfg)
	}

	// 2. the same push again: nothing uploaded.
	again := runActionEnv(t, map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_WORKSPACE": workspace,
		"INPUT_IMAGE": image, "INPUT_GITHUB-TOKEN": canary,
		"INPUT_LABELS": "org.opencontainers.image.revision=abc123",
	})
	if again.err != nil {
		t.Fatalf("second push: %v\n%s", again.err, again.stdout)
	}
	if again.outputs["bytes-pushed"] != "0" || again.outputs["changed"] != "false" || again.outputs["digest"] != digest || again.outputs["layers-cached"] != "5" {
		t.Errorf("no-change rerun outputs: %v", again.outputs)
	}
	checkSummaryTable(t, again.summary, []string{"base", "app"}, "cached")

	// 3. a PR that bumps pak1: push false, sticky comment with the diff.
	_, _, prPlan := setupSeed(t, nixfix.Options{Packages: 3, Versions: map[string]string{"pak1": "1.1.1"}})
	event := filepath.Join(t.TempDir(), "event.json")
	payload, _ := os.ReadFile("testdata/pull_request.json")
	payload = bytes.ReplaceAll(payload, []byte(`"number": 42`), []byte(`"number": 7`))
	os.WriteFile(event, payload, 0o644)
	prEnv := map[string]string{
		"GITHUB_EVENT_NAME":  "pull_request",
		"GITHUB_EVENT_PATH":  event,
		"GITHUB_API_URL":     api.URL,
		"GITHUB_WORKSPACE":   filepath.Dir(prPlan),
		"INPUT_IMAGE":        image,
		"INPUT_PUSH":         "false",
		"INPUT_GITHUB-TOKEN": canary,
	}
	pr1 := runActionEnv(t, prEnv)
	if pr1.err != nil {
		t.Fatalf("PR check: %v\n%s\n%s", pr1.err, pr1.stdout, pr1.stderr)
	}
	pr2 := runActionEnv(t, prEnv)
	if pr2.err != nil {
		t.Fatalf("PR check rerun: %v\n%s", pr2.err, pr2.stdout)
	}
	gh.mu.Lock()
	creates, edits, n, authOK := gh.creates, gh.edits, len(gh.comments), gh.authOK
	var body string
	for _, b := range gh.comments {
		body = b
	}
	gh.mu.Unlock()
	if creates != 1 || edits != 1 || n != 1 {
		t.Errorf("sticky comment: %d created, %d edited, %d comments; want 1, 1, 1", creates, edits, n)
	}
	if !authOK {
		t.Error("the GitHub API never saw the token")
	}
	if !strings.HasPrefix(body, report.PRCommentMarker) || !strings.Contains(body, "pak1") || !strings.Contains(body, "1.1.1") {
		t.Errorf("PR comment lacks the marker or the pak1 version change:\n%s", body)
	}
	// push: false left the tag alone.
	tagged := run(t, skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+image+":latest")
	if strings.TrimSpace(tagged) != digest {
		t.Errorf("push: false moved the tag to %s", tagged)
	}
	if pr1.outputs["changed"] != "true" {
		t.Errorf("PR check changed=%q, want true", pr1.outputs["changed"])
	}

	for i, r := range []actionRun{push, again, pr1, pr2} {
		assertNoCanary(t, fmt.Sprintf("run %d stdout", i), r.stdout)
		assertNoCanary(t, fmt.Sprintf("run %d stderr", i), r.stderr)
		assertNoCanary(t, fmt.Sprintf("run %d summary", i), r.summary)
		for k, v := range r.outputs {
			assertNoCanary(t, fmt.Sprintf("run %d output %s", i, k), v)
		}
	}
	assertNoCanary(t, "PR comment", body)
}

func TestE2EActionPlanErrorAnnotation(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nix-layers.yaml"), []byte("version: 1\nlayers:\n  - name: base\n    deps: []\n"), 0o644)
	r := runActionEnv(t, map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_WORKSPACE": dir,
		"INPUT_IMAGE": "127.0.0.1:1/never/used", "INPUT_GITHUB-TOKEN": canary,
	})
	if r.err == nil {
		t.Fatal("bad plan accepted")
	}
	if !strings.Contains(r.stdout, "::error") || !strings.Contains(r.stdout, "file=nix-layers.yaml") || !strings.Contains(r.stdout, "line=4") {
		t.Errorf("no file/line annotation for the plan error:\n%s", r.stdout)
	}
	assertNoCanary(t, "stdout", r.stdout)
}

// checkSummaryTable checks the job summary holds a GFM table with a row
// per named layer carrying status.
func checkSummaryTable(t *testing.T, md string, layers []string, status string) {
	t.Helper()
	var rows []string
	sep := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "|") {
			if strings.Contains(l, "---") {
				sep = true
			}
			rows = append(rows, l)
		}
	}
	if !sep || len(rows) < len(layers)+2 {
		t.Fatalf("summary has no GFM table with %d layer rows:\n%s", len(layers), md)
	}
	for _, name := range layers {
		found := false
		for _, r := range rows {
			if strings.Contains(r, name) && strings.Contains(r, status) {
				found = true
			}
		}
		if !found {
			t.Errorf("summary has no row for layer %s with status %s:\n%s", name, status, strings.Join(rows, "\n"))
		}
	}
	if !strings.Contains(md, "sha256:") {
		t.Error("summary lacks the digest")
	}
}
