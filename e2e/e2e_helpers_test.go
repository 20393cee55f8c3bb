package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// run runs a tool and returns its stdout; a failure fails the test with the
// tool's output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds the CLI once per test process.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nix-layer-action-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "nix-layer-action")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/org/nix-layer-action").CombinedOutput()
		if err != nil {
			binErr = &buildError{string(out), err}
		}
	})
	if binErr != nil {
		t.Fatalf("go build: %v", binErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// verifyBlobs re-hashes every blob of an OCI layout against its file name.
func verifyBlobs(t *testing.T, layout string) {
	t.Helper()
	dir := filepath.Join(layout, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 3 {
		t.Fatalf("layout %s has only %d blobs", layout, len(entries))
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.Name() {
			t.Errorf("blob %s re-hashes to %s", e.Name(), got)
		}
	}
}

// registryCatalog lists the registry's repositories.
func registryCatalog(reg *registry.Registry) (string, error) {
	resp, err := http.Get(reg.URL() + "/v2/_catalog")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", err
	}
	b, _ := json.Marshal(v)
	return string(b), nil
}

// buildReport runs `build --plan planFile --report FILE` with args (and
// the CLI's environment env), its temp dir in the test's, and returns the
// report it wrote (nil when the build failed), its stderr and its error:
// the one "build, then read the report" of these tests. A --temp-dir or
// --report in args wins.
func buildReport(t *testing.T, env map[string]string, planFile string, args ...string) (*cliReport, string, error) {
	t.Helper()
	rep := filepath.Join(t.TempDir(), "report.json")
	args = append([]string{"build", "--plan", planFile, "--temp-dir", t.TempDir(), "--report", rep}, args...)
	for i := range args[:len(args)-1] {
		if args[i] == "--report" {
			rep = args[i+1]
		}
	}
	_, stderr, err := runCLI(t, env, args...)
	if err != nil {
		return nil, stderr, err
	}
	return readReport(t, rep), stderr, nil
}

// mustBuildReport is buildReport failing the test when the build fails.
func mustBuildReport(t *testing.T, env map[string]string, planFile string, args ...string) (*cliReport, string) {
	t.Helper()
	r, stderr, err := buildReport(t, env, planFile, args...)
	if err != nil {
		t.Fatalf("build %s: %v\nstderr:\n%s", planFile, err, stderr)
	}
	return r, stderr
}
