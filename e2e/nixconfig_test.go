package e2e

// The binary-cache client follows the configuration of the Nix that runs
// (issue 17 item 6): whatever NIX_CONF_DIR, NIX_USER_CONF_FILES or
// NIX_CONFIG say, the tool trusts the keys and reaches the caches Nix
// would, never a stale ~/.config/nix/nix.conf Nix does not read.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil/binarycache"
)

// staleKey is a well-formed key that signed nothing in the test cache.
const staleKey = "other-1:R4H6l6hFVVmA0/lJL1B96ZOynJjld678kcZXlPFIXlc="

func writeFile(t *testing.T, file, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFreshRunnerFollowsNixConfiguration(t *testing.T) {
	f := newFreshFixture(t, nil)
	planFile := f.plan(t)
	bin := buildBinary(t)

	// Nix is pointed at the signed nginx cache through NIX_CONF_DIR; its
	// user files are NIX_USER_CONF_FILES (none exist), so the stale
	// ~/.config/nix/nix.conf naming the cache with a wrong key is not
	// Nix's configuration and must not be the tool's.
	confDir, home := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(confDir, "nix.conf"), strings.Join(f.nixConf(), "\n")+"\n")
	writeFile(t, filepath.Join(home, ".config", "nix", "nix.conf"),
		"substituters = "+f.nginx.URL+"\ntrusted-public-keys = "+staleKey+"\n")
	env := func(nixConfig string) []string {
		return []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
			"NIX_CONF_DIR=" + confDir, "NIX_USER_CONF_FILES=" + filepath.Join(confDir, "no-user.conf"),
			"NIX_CONFIG=experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =" + nixConfig,
		}
	}
	build := func(t *testing.T, nixConfig string) (*cliReport, binarycache.Result, binarycache.Traffic) {
		store := binarycache.NewFreshStore(t)
		before := binarycache.Summarize(f.nginx.Requests(t))
		rep := filepath.Join(t.TempDir(), "report.json")
		res := store.RunEnv(t, env(nixConfig), bin, "build", "--plan", planFile,
			"--output", "oci:"+filepath.Join(t.TempDir(), "oci"), "--temp-dir", t.TempDir(), "--report", rep)
		after := binarycache.Summarize(f.nginx.Requests(t))
		tr := binarycache.Traffic{NarinfoRequests: after.NarinfoRequests - before.NarinfoRequests, NARRequests: after.NARRequests - before.NARRequests}
		if res.Err != nil {
			return nil, res, tr
		}
		return readReport(t, rep), res, tr
	}

	t.Run("NIX_CONF_DIR", func(t *testing.T) {
		r, res, tr := build(t, "")
		if res.Err != nil {
			t.Fatalf("build with Nix configured through NIX_CONF_DIR: %v\n%s", res.Err, res.Stderr)
		}
		for _, l := range r.Layers {
			if l.Source != "" && l.Source != "substituter" {
				t.Errorf("layer %s source %q, want substituter (the cache Nix is configured with)", l.Name, l.Source)
			}
		}
		if tr.NARRequests == 0 {
			t.Errorf("no NAR was read from the cache Nix names: %+v", tr)
		}
	})

	t.Run("NIX_CONFIG substituters =", func(t *testing.T) {
		r, res, tr := build(t, "\nsubstituters =")
		if res.Err != nil {
			t.Fatalf("build with no substituters: %v\n%s", res.Err, res.Stderr)
		}
		if tr.NarinfoRequests+tr.NARRequests != 0 {
			t.Errorf("the cache was asked %d narinfo and %d NAR requests although Nix has no substituters", tr.NarinfoRequests, tr.NARRequests)
		}
		for _, l := range r.Layers {
			if l.Source == "substituter" {
				t.Errorf("layer %s came from a substituter although Nix has none", l.Name)
			}
		}
	})
}
