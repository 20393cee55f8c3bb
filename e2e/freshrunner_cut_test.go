package e2e

// A binary cache that closes the connection halfway through a NAR (issue
// 17, item 7): the transfer is resumed (a Range request; nginx serves
// ranges for static files) and the layer built from the joined stream,
// whose NAR hash and size are still checked; a cache that cuts every
// transfer fails the run after the bounded resumes, naming the path.

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil/binarycache"
)

// TestFreshRunnerCutNAR builds the fixture in an empty store from the
// nginx cache behind binarycache.Cut.
func TestFreshRunnerCutNAR(t *testing.T) {
	f := newFreshFixture(t, nil)
	planFile := f.plan(t)
	honest, _, _ := expectedImage(t, planFile) // from the host's realised store
	build := func(t *testing.T, cut *binarycache.CutProxy) (*cliReport, binarycache.Result) {
		t.Helper()
		store := binarycache.NewFreshStore(t)
		rep := filepath.Join(t.TempDir(), "report.json")
		res := store.Run(t, []string{"substituters = " + cut.URL, "trusted-public-keys = " + f.cache.Key.Public},
			buildBinary(t), "build", "--plan", planFile, "--output", "oci:"+filepath.Join(t.TempDir(), "o"),
			"--temp-dir", t.TempDir(), "--report", rep)
		if res.Err != nil {
			return nil, res
		}
		return readReport(t, rep), res
	}

	t.Run("three NARs cut once", func(t *testing.T) {
		cut := binarycache.Cut(t, f.nginx.URL, binarycache.CutOptions{Times: 3})
		r, res := build(t, cut)
		if res.Err != nil {
			t.Fatalf("a NAR transfer cut short once failed the build: %v\n%s", res.Err, res.Stderr)
		}
		if cut.Cuts() != 3 {
			t.Fatalf("%d transfers cut, want 3", cut.Cuts())
		}
		if r.Digest != honest {
			t.Errorf("image from resumed NAR streams %s, from the realised store %s", r.Digest, honest)
		}
		var resumed int
		for _, rg := range cut.NARRanges() {
			if strings.HasPrefix(rg, "bytes=") {
				resumed++
			}
		}
		if resumed != 3 || strings.Count(res.Stderr, "resuming with a Range request") != 3 {
			t.Errorf("%d Range requests (want 3):\n%s", resumed, res.Stderr)
		}
	})

	t.Run("every transfer cut", func(t *testing.T) {
		cut := binarycache.Cut(t, f.nginx.URL, binarycache.CutOptions{Times: -1})
		_, res := build(t, cut)
		if res.Err == nil {
			t.Fatal("a cache cutting every transfer short gave a build")
		}
		if !strings.Contains(res.Stderr, "unexpected EOF") || !strings.Contains(res.Stderr, "after 3 resumes") || !strings.Contains(res.Stderr, "/nix/store/") {
			t.Errorf("the error does not name the path, the cut and the resumes:\n%s", res.Stderr)
		}
		t.Logf("every transfer cut: %d transfers; %s", cut.Cuts(), lastLine(res.Stderr))
	})
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}
