package action

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/testutil"
)

const sha1 = "c5b97d5ae6c19d5c5df71a34c7fbeeda2479ccbc"

func TestImageMetadataMapping(t *testing.T) {
	created := time.Date(2025, 11, 20, 10, 1, 2, 0, time.FixedZone("CET", 3600))
	full := githubContext{
		ServerURL: "https://github.com", Repository: "Octo-Org/Hello-World", SHA: sha1,
		RefType: "tag", RefName: "v1.2.3", Description: "  A demo\n image ", License: "Apache-2.0", Created: created,
	}
	want := map[string]string{
		AnnotationSource:      "https://github.com/Octo-Org/Hello-World",
		AnnotationRevision:    sha1,
		AnnotationCreated:     "2025-11-20T09:01:02Z",
		AnnotationTitle:       "Hello-World",
		AnnotationDescription: "A demo image",
		AnnotationLicenses:    "Apache-2.0",
		AnnotationVersion:     "v1.2.3",
	}
	if got := imageMetadata(full); !reflect.DeepEqual(got, want) {
		t.Errorf("full context:\n got %v\nwant %v", got, want)
	}
	for name, tc := range map[string]struct {
		edit    func(*githubContext)
		missing []string
		changed map[string]string
	}{
		"branch push: no version":  {edit: func(c *githubContext) { c.RefType, c.RefName = "branch", "main" }, missing: []string{AnnotationVersion}},
		"no ref type":              {edit: func(c *githubContext) { c.RefType = "" }, missing: []string{AnnotationVersion}},
		"no description":           {edit: func(c *githubContext) { c.Description = "" }, missing: []string{AnnotationDescription}},
		"blank description":        {edit: func(c *githubContext) { c.Description = " \n" }, missing: []string{AnnotationDescription}},
		"no license":               {edit: func(c *githubContext) { c.License = "" }, missing: []string{AnnotationLicenses}},
		"unrecognised license":     {edit: func(c *githubContext) { c.License = "NOASSERTION" }, missing: []string{AnnotationLicenses}},
		"no sha":                   {edit: func(c *githubContext) { c.SHA = "" }, missing: []string{AnnotationRevision}},
		"no time":                  {edit: func(c *githubContext) { c.Created = time.Time{} }, missing: []string{AnnotationCreated}},
		"no repository":            {edit: func(c *githubContext) { c.Repository = "" }, missing: []string{AnnotationSource, AnnotationTitle}},
		"repository without owner": {edit: func(c *githubContext) { c.Repository = "Hello-World" }, missing: []string{AnnotationSource, AnnotationTitle}},
		"no server URL":            {edit: func(c *githubContext) { c.ServerURL = "" }},
		"GHES server": {edit: func(c *githubContext) { c.ServerURL = "https://ghe.example.com/" },
			changed: map[string]string{AnnotationSource: "https://ghe.example.com/Octo-Org/Hello-World"}},
	} {
		c := full
		tc.edit(&c)
		w := map[string]string{}
		for k, v := range want {
			w[k] = v
		}
		for _, k := range tc.missing {
			delete(w, k)
		}
		for k, v := range tc.changed {
			w[k] = v
		}
		if got := imageMetadata(c); !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, w)
		}
	}
	if got := imageMetadata(githubContext{}); got != nil {
		t.Errorf("empty context gave %v, want nil", got)
	}
}

// gitRepo makes a repository with one commit at the given committer time
// and returns its directory and the commit id.
func gitRepo(t *testing.T, when time.Time) (string, string) {
	t.Helper()
	git := testutil.RequireTool(t, "git")
	dir := t.TempDir()
	stamp := when.Format(time.RFC3339)
	env := append(os.Environ(), "GIT_AUTHOR_DATE=2001-01-01T00:00:00Z", "GIT_COMMITTER_DATE="+stamp,
		"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=c", "GIT_COMMITTER_EMAIL=c@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	for _, args := range [][]string{{"init", "-q"}, {"commit", "-q", "--allow-empty", "-m", "x"}} {
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	cmd := exec.Command(git, "rev-parse", "HEAD")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return dir, strings.TrimSpace(string(out))
}

func TestCommitTime(t *testing.T) {
	when := time.Date(2024, 2, 29, 12, 34, 56, 0, time.UTC)
	repo, sha := gitRepo(t, when)
	notRepo := t.TempDir()
	payloadTime := "2024-03-01T08:00:00+01:00"
	hc := func(id string) repoEvent {
		var ev repoEvent
		ev.HeadCommit = &struct {
			ID        string `json:"id"`
			Timestamp string `json:"timestamp"`
		}{ID: id, Timestamp: payloadTime}
		return ev
	}
	for name, tc := range map[string]struct {
		env     map[string]string
		ev      repoEvent
		want    time.Time
		wantWhy string
	}{
		"git":                        {env: map[string]string{"GITHUB_SHA": sha, "GITHUB_WORKSPACE": repo}, ev: hc(sha), want: when, wantWhy: "(git)"},
		"payload when git fails":     {env: map[string]string{"GITHUB_SHA": sha, "GITHUB_WORKSPACE": notRepo}, ev: hc(sha), want: time.Date(2024, 3, 1, 7, 0, 0, 0, time.UTC), wantWhy: "head_commit"},
		"payload without workspace":  {env: map[string]string{"GITHUB_SHA": sha}, ev: hc(sha), want: time.Date(2024, 3, 1, 7, 0, 0, 0, time.UTC), wantWhy: "head_commit"},
		"payload of another commit":  {env: map[string]string{"GITHUB_SHA": sha, "GITHUB_WORKSPACE": notRepo}, ev: hc(sha1), wantWhy: "commit time unknown"},
		"commit not in the checkout": {env: map[string]string{"GITHUB_SHA": sha1, "GITHUB_WORKSPACE": repo}, wantWhy: "commit time unknown: git log"},
		"no sha":                     {env: map[string]string{"GITHUB_WORKSPACE": repo}, ev: hc(sha), wantWhy: "GITHUB_SHA is not set"},
		"option-like sha":            {env: map[string]string{"GITHUB_SHA": "--all", "GITHUB_WORKSPACE": repo}, wantWhy: "is not a commit id"},
	} {
		got, why := commitTime(context.Background(), func(k string) string { return tc.env[k] }, tc.ev)
		if !got.Equal(tc.want) || !strings.Contains(why, tc.wantWhy) {
			t.Errorf("%s: %v (%s), want %v (%s)", name, got, why, tc.want, tc.wantWhy)
		}
	}
}

// TestRunMetadataReachesRequest: the GitHub context becomes the request's
// metadata and created time; SOURCE_DATE_EPOCH wins over the commit.
func TestRunMetadataReachesRequest(t *testing.T) {
	when := time.Date(2024, 2, 29, 12, 34, 56, 0, time.UTC)
	repo, sha := gitRepo(t, when)
	e := newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_PR-COMMENT"] = "false"
	e.vars["GITHUB_WORKSPACE"] = repo
	e.vars["GITHUB_SHA"] = sha
	e.vars["GITHUB_REF_TYPE"] = "tag"
	e.vars["GITHUB_REF_NAME"] = "v2.0.0"
	event := filepath.Join(e.dir, "push.json")
	if err := os.WriteFile(event, []byte(`{"ref":"refs/tags/v2.0.0","repository":{"name":"Hello-World","description":"Demo image","license":{"key":"mit","spdx_id":"MIT"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.vars["GITHUB_EVENT_NAME"], e.vars["GITHUB_EVENT_PATH"] = "push", event
	var got Request
	build := func(ctx context.Context, req Request) (*report.Report, error) {
		got = req
		return cannedReport(req), nil
	}
	stdout, err := e.run(t, nil, build)
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	want := map[string]string{
		AnnotationSource: "https://github.com/Octo-Org/Hello-World", AnnotationRevision: sha,
		AnnotationCreated: "2024-02-29T12:34:56Z", AnnotationTitle: "Hello-World",
		AnnotationDescription: "Demo image", AnnotationLicenses: "MIT", AnnotationVersion: "v2.0.0",
	}
	if !reflect.DeepEqual(got.Metadata, want) || !got.Created.Equal(when) {
		t.Errorf("metadata %v created %v\nwant %v %v", got.Metadata, got.Created, want, when)
	}
	// The explicit inputs still arrive as given: the pipeline lets them win.
	if got.Labels["org.opencontainers.image.source"] != "https://github.com/Octo-Org/Hello-World" || got.Annotations["org.opencontainers.image.description"] != "demo" {
		t.Errorf("labels %v annotations %v", got.Labels, got.Annotations)
	}
	if !strings.Contains(stdout, "created 2024-02-29T12:34:56Z from the commit's time (git)") {
		t.Errorf("the log does not say where created came from:\n%s", stdout)
	}

	e.vars["SOURCE_DATE_EPOCH"] = "1700000000"
	if _, err := e.run(t, nil, build); err != nil {
		t.Fatal(err)
	}
	if got.Metadata[AnnotationCreated] != "2023-11-14T22:13:20Z" || !got.Created.IsZero() {
		t.Errorf("with SOURCE_DATE_EPOCH: created %q, Created %v (want the epoch, and no commit time)", got.Metadata[AnnotationCreated], got.Created)
	}

	// No checkout, no payload: only what the environment says.
	e = newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_PR-COMMENT"] = "false"
	e.vars["GITHUB_EVENT_PATH"] = filepath.Join(e.dir, "missing.json")
	e.vars["GITHUB_SHA"] = sha1
	if _, err := e.run(t, nil, build); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{AnnotationSource: "https://github.com/Octo-Org/Hello-World", AnnotationRevision: sha1, AnnotationTitle: "Hello-World"}
	if !reflect.DeepEqual(got.Metadata, want) || !got.Created.IsZero() {
		t.Errorf("bare context: metadata %v created %v, want %v", got.Metadata, got.Created, want)
	}
}

func TestSBOMPathInput(t *testing.T) {
	ws := "/github/workspace"
	for in, want := range map[string][2]string{
		"":                                  {ws + "/nix-layer-action.cdx.json", "nix-layer-action.cdx.json"},
		"out/sbom.json":                     {ws + "/out/sbom.json", "out/sbom.json"},
		"./out//sbom.json":                  {ws + "/out/sbom.json", "out/sbom.json"},
		"/github/workspace/x/sbom.json":     {ws + "/x/sbom.json", "x/sbom.json"},
		"/srv/sbom.json":                    {"/srv/sbom.json", "/srv/sbom.json"},
		"/github/workspace/../elsewhere.js": {"/github/workspace/../elsewhere.js", "/github/workspace/../elsewhere.js"},
	} {
		s := &settings{workspace: ws}
		if err := parseSBOMPath(func(string) string { return in }, s); err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if s.req.SBOMPath != filepath.Clean(want[0]) && s.req.SBOMPath != want[0] || s.sbomOutput != want[1] {
			t.Errorf("%q: written to %q, output %q; want %q, %q", in, s.req.SBOMPath, s.sbomOutput, want[0], want[1])
		}
	}
	for _, in := range []string{"../sbom.json", "a/../../sbom.json"} {
		s := &settings{workspace: ws}
		var ie *InputError
		if err := parseSBOMPath(func(string) string { return in }, s); err == nil || !asInputError(err, &ie) || ie.Input != "sbom-path" {
			t.Errorf("%q: err %v, want an sbom-path input error", in, err)
		}
	}
}

func asInputError(err error, target **InputError) bool {
	ie, ok := err.(*InputError)
	*target = ie
	return ok
}

// TestRunSBOMOutput: the sbom output names the file the builder wrote,
// relative to the workspace; a builder that wrote none gives no output.
func TestRunSBOMOutput(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_PR-COMMENT"] = "false"
	e.vars["INPUT_SBOM-PATH"] = "sboms/image.cdx.json"
	ws := e.vars["GITHUB_WORKSPACE"]
	var got Request
	stdout, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
		got = req
		if err := os.MkdirAll(filepath.Dir(req.SBOMPath), 0o755); err != nil {
			return nil, err
		}
		return cannedReport(req), os.WriteFile(req.SBOMPath, []byte("{}"), 0o644)
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if got.SBOMPath != filepath.Join(ws, "sboms", "image.cdx.json") {
		t.Errorf("SBOMPath %q", got.SBOMPath)
	}
	if outs := readOutputs(t, e.output); outs["sbom"] != "sboms/image.cdx.json" {
		t.Errorf("sbom output %q", outs["sbom"])
	}

	e = newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_PR-COMMENT"] = "false"
	stdout, err = e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) { return cannedReport(req), nil })
	if err != nil {
		t.Fatal(err)
	}
	if outs := readOutputs(t, e.output); outs["sbom"] != "" || !strings.Contains(stdout, "::warning::no SBOM") {
		t.Errorf("no file written, yet sbom output %q; log:\n%s", outs["sbom"], stdout)
	}
}
