package actionrunner

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

// Suites are the Debian suites scripts/action-image.sh builds the image
// on, by the Nix version each gives.
var Suites = map[string]string{"2.8": "bookworm", "2.26": "trixie", "2.34": "sid"}

// NixVersions lists the keys of Suites, oldest first.
var NixVersions = []string{"2.8", "2.26", "2.34"}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// BuildImage returns the action image with the given Nix version ("2.8",
// "2.26" or "2.34"), building it with scripts/action-image.sh (cached: a
// rerun takes seconds; the first build on a machine takes a few minutes).
// NLA_ACTION_IMAGE, when set, names an image to use instead for every
// version (e.g. the released one).
func BuildImage(t testing.TB, nixVersion string) string {
	t.Helper()
	Available(t)
	if img := os.Getenv("NLA_ACTION_IMAGE"); img != "" {
		return img
	}
	suite, ok := Suites[nixVersion]
	if !ok {
		t.Fatalf("actionrunner: no suite for Nix %q (have %v)", nixVersion, NixVersions)
	}
	testutil.RequireTool(t, "mmdebstrap")
	buildMu.Lock()
	defer buildMu.Unlock()
	if img, ok := built[suite]; ok {
		return img
	}
	root := RepoRoot(t)
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "action-image.sh"), suite)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("actionrunner: scripts/action-image.sh %s: %v\n%s", suite, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	img := lines[len(lines)-1]
	built[suite] = img
	return img
}
