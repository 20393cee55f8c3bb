package e2e

// The quick start (scripts/example.sh) run as a user runs it, so that CI
// keeps its claims honest: it must succeed, print every claim, leave
// reports that bear the claims out, stop its registry, and fail loudly
// when a claim does not hold.

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

var quickstartDir = filepath.Join("..", "examples", "quickstart")

// TestQuickstartScript runs scripts/example.sh into a temp dir and checks
// its output and the three reports it leaves.
func TestQuickstartScript(t *testing.T) {
	testutil.Short(t)
	bash := testutil.RequireTool(t, "bash")
	out := t.TempDir()
	cmd := exec.Command(bash, filepath.Join("..", "scripts", "example.sh"))
	cmd.Env = append(os.Environ(), "QUICKSTART_OUT="+out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("scripts/example.sh: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("scripts/example.sh took %v", took.Round(time.Millisecond))

	first, rerun, change := readReport(t, filepath.Join(out, "1-first.json")),
		readReport(t, filepath.Join(out, "2-rerun.json")), readReport(t, filepath.Join(out, "3-change.json"))
	text := stdout.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`registry listening on 127\.0\.0\.1:\d+ \(port \d+\)`),
		regexp.MustCompile(`(?m)^ok  first push: 3 layers uploaded \(base, libs, app\), .*, digest ` + regexp.QuoteMeta(first.Digest) + `$`),
		regexp.MustCompile(`(?m)^ok  rerun: +0 bytes uploaded, 3 layers cached, same digest ` + regexp.QuoteMeta(first.Digest) + `$`),
		regexp.MustCompile(`(?m)^ok  change: +1 layer uploaded \(app, .*\), 2 cached \(base, libs\), .*new digest ` + regexp.QuoteMeta(change.Digest) + `$`),
		regexp.MustCompile(`(?m)^== every claim held`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}

	// The reports themselves, read independently of the script's checker.
	if rerun.BytesPushed != 0 || rerun.Digest != first.Digest {
		t.Errorf("rerun pushed %d bytes, digest %s; want 0 and %s", rerun.BytesPushed, rerun.Digest, first.Digest)
	}
	statuses := func(r *cliReport) []string {
		var s []string
		for _, l := range r.Layers {
			s = append(s, l.Name+"="+l.Status)
		}
		return s
	}
	for _, c := range []struct {
		r    *cliReport
		want []string
	}{
		{first, []string{"base=pushed", "libs=pushed", "app=pushed", "root=empty"}},
		{rerun, []string{"base=cached", "libs=cached", "app=cached", "root=empty"}},
		{change, []string{"base=cached", "libs=cached", "app=pushed", "root=empty"}},
	} {
		if got := statuses(c.r); !slices.Equal(got, c.want) {
			t.Errorf("layers %v, want %v", got, c.want)
		}
	}
	if change.Digest == first.Digest || !strings.HasSuffix(change.Layers[2].Paths[0], "-app-1.1") {
		t.Errorf("change: digest %s (first %s), app layer %v", change.Digest, first.Digest, change.Layers[2].Paths)
	}
	for i := 0; i < 2; i++ {
		if change.Layers[i].Digest != first.Layers[i].Digest {
			t.Errorf("cached layer %s changed digest", change.Layers[i].Name)
		}
	}

	// The registry is gone once the script has exited.
	addr, err := os.ReadFile(filepath.Join(out, "registry.addr"))
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimSpace(string(addr)), time.Second); err == nil {
		conn.Close()
		t.Errorf("the demo registry at %s still answers after the script exited", addr)
	}

	// A claim that does not hold fails loudly: the checker, given the
	// wrong reports, exits non-zero and says what failed.
	checker := filepath.Join(out, "bin", "check-report")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"rerun", filepath.Join(out, "1-first.json"), filepath.Join(out, "3-change.json")}, "CLAIM FAILED: rerun with nothing changed uploaded"},
		{[]string{"change", filepath.Join(out, "1-first.json"), filepath.Join(out, "2-rerun.json"), "app"}, "CLAIM FAILED: change of one package uploaded layers [], want exactly [app]"},
		{[]string{"first", filepath.Join(out, "2-rerun.json")}, `CLAIM FAILED: first push: layer base is "cached", want pushed`},
	} {
		b, err := exec.Command(checker, c.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(b), c.msg) {
			t.Errorf("check-report %s: %v\n%s\nwant a failure saying %q", c.args[0], err, b, c.msg)
		}
	}
}

// TestQuickstartChangeConsistent checks the bundled one-package change:
// its closure graph is the example's with app 1.0 replaced by app 1.1, and
// every path is in examples/quickstart/change/store (the changed one) or
// examples/quickstart/store (the rest) with exactly the recorded NAR hash.
func TestQuickstartChangeConsistent(t *testing.T) {
	before, err := closure.LoadGraphFile(filepath.Join(quickstartDir, "closure.json"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := closure.LoadGraphFile(filepath.Join(quickstartDir, "change", "closure.json"))
	if err != nil {
		t.Fatal(err)
	}
	var added, removed []string
	for _, p := range after.Paths() {
		if _, ok := before.Info(p); !ok {
			added = append(added, p)
		}
	}
	for _, p := range before.Paths() {
		if _, ok := after.Info(p); !ok {
			removed = append(removed, p)
		}
	}
	if len(added) != 1 || !strings.HasSuffix(added[0], "-app-1.1") || len(removed) != 1 || !strings.HasSuffix(removed[0], "-app-1.0") {
		t.Fatalf("change adds %v and removes %v; want app-1.1 for app-1.0", added, removed)
	}
	changeStore := filepath.Join(quickstartDir, "change", "store")
	ents, err := os.ReadDir(filepath.Join(changeStore, "nix", "store"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || "/nix/store/"+ents[0].Name() != added[0] {
		t.Errorf("change/store holds %v, want only %s", ents, added[0])
	}
	for _, p := range after.Paths() {
		root := filepath.Join(quickstartDir, "store")
		if p == added[0] {
			root = changeStore
		}
		nar, err := nixfix.Nar(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := after.Info(p)
		if nar.Base32 != info.NarHash || nar.Size != info.NarSize {
			t.Errorf("%s: tree has %s/%d, change/closure.json says %s/%d", p, nar.Base32, nar.Size, info.NarHash, info.NarSize)
		}
	}
}
