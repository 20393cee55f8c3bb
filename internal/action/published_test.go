package action

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/report"
)

// breakFile replaces file with a directory: what was writable when the run
// started cannot be written any more.
func breakFile(t *testing.T, file string) {
	t.Helper()
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(file, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestRunUnwritableFileCommandRefused: GITHUB_OUTPUT or GITHUB_STEP_SUMMARY
// that cannot be written fail the step before the build is called.
func TestRunUnwritableFileCommandRefused(t *testing.T) {
	for _, v := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"} {
		t.Run(v, func(t *testing.T) {
			e := newEnv(t, "http://127.0.0.1:1")
			e.vars["INPUT_IMAGE"] = "ghcr.io/octo-org/hello-world"
			e.vars[v] = filepath.Join(e.dir, "missing", "file")
			out, err := e.run(t, nil, func(context.Context, Request) (*report.Report, error) {
				t.Fatal("built although " + v + " cannot be written")
				return nil, nil
			})
			if err == nil || !strings.Contains(out, "::error::"+v+" cannot be written") {
				t.Errorf("error %v, log:\n%s", err, out)
			}
		})
	}
}

// TestRunOutputsFailAfterPublish: the step outputs, then the summary, can
// no longer be written once the image is pushed: the error is a
// *publish.PublishedError and the annotation names the image by digest.
func TestRunOutputsFailAfterPublish(t *testing.T) {
	for _, which := range []string{"output", "summary"} {
		t.Run(which, func(t *testing.T) {
			e := newEnv(t, "http://127.0.0.1:1")
			e.vars["INPUT_IMAGE"] = "ghcr.io/octo-org/hello-world"
			e.vars["INPUT_PR-COMMENT"] = "false"
			out, err := e.run(t, nil, func(_ context.Context, req Request) (*report.Report, error) {
				breakFile(t, map[string]string{"output": e.output, "summary": e.summary}[which])
				return cannedReport(req), nil
			})
			var pe *publish.PublishedError
			if !errors.As(err, &pe) || pe.Ref != "ghcr.io/octo-org/hello-world@"+digest('d') {
				t.Fatalf("error %v, want a PublishedError for the pushed digest", err)
			}
			if !strings.Contains(out, "::error::published ghcr.io/octo-org/hello-world@"+digest('d')+", but ") {
				t.Errorf("no annotation naming the published image:\n%s", out)
			}
		})
	}
}

// TestRunPushFalseOutputFailure: without push nothing was published, so a
// failed output is a plain failure.
func TestRunPushFalseOutputFailure(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_IMAGE"] = "ghcr.io/octo-org/hello-world"
	e.vars["INPUT_PUSH"] = "false"
	e.vars["INPUT_PR-COMMENT"] = "false"
	_, err := e.run(t, nil, func(_ context.Context, req Request) (*report.Report, error) {
		breakFile(t, e.output)
		return cannedReport(req), nil
	})
	var pe *publish.PublishedError
	if err == nil || errors.As(err, &pe) {
		t.Errorf("error %v, want a failure that does not claim a publication", err)
	}
}

// TestRunMergeSummaryFailsAfterPublish: a merge whose summary cannot be
// written after the index was pushed reports the index by digest.
func TestRunMergeSummaryFailsAfterPublish(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_IMAGE"] = "ghcr.io/octo-org/hello-world:latest"
	e.vars["INPUT_MERGE"] = digest('a') + "\n" + digest('b')
	var out bytes.Buffer
	err := Run(context.Background(), Options{Getenv: e.getenv, Stdout: &out,
		Build: func(context.Context, Request) (*report.Report, error) { return nil, errors.New("no build") },
		Merge: func(ctx context.Context, req MergeRequest) (*MergeResult, error) {
			breakFile(t, e.summary)
			return &MergeResult{Digest: digest('i'), Changed: true}, nil
		}})
	var pe *publish.PublishedError
	if !errors.As(err, &pe) || pe.Ref != "ghcr.io/octo-org/hello-world@"+digest('i') {
		t.Fatalf("error %v, want a PublishedError for the index\n%s", err, out.String())
	}
	if got := readOutputs(t, e.output)["digest"]; got != digest('i') {
		t.Errorf("digest output %q", got)
	}
}

// TestRunInterruptedSaysNothingMore: a build that fails because the run
// was cancelled (Nix stopped by the signal) gets no error annotation of
// its own: the caller says "interrupted", and only that.
func TestRunInterruptedSaysNothingMore(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	e.vars["INPUT_IMAGE"] = "ghcr.io/octo-org/hello-world"
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	err := Run(ctx, Options{Getenv: e.getenv, Stdout: &out, Build: func(context.Context, Request) (*report.Report, error) {
		cancel()
		return nil, errors.New("nix build failed for .#app: interrupted by the user")
	}})
	if err == nil {
		t.Fatal("an interrupted build succeeded")
	}
	if strings.Contains(out.String(), "::error") || strings.Contains(out.String(), "nix build failed") {
		t.Errorf("the interrupted build was reported as a failure:\n%s", out.String())
	}
}
