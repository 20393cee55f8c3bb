package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/org/nix-layer-action/internal/bytesize"
	"github.com/org/nix-layer-action/internal/progress"
	"github.com/org/nix-layer-action/internal/publish"
)

// The build line of a root layer with no store paths of its own counts its
// files (here /etc/passwd, /etc/group, …), not "0 B" (issue 18).
func TestBuildProgressCountsRootFiles(t *testing.T) {
	ex, err := filepath.Abs(filepath.Dir(examplePlan))
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(t.TempDir(), "nix-layers.yaml")
	plan := fmt.Sprintf(`version: 1
closure-graph: %s/closure.json
store-root: %s/store
layers:
  - name: base
    deps: [/nix/store/glcfxsfzbba930xys68d0nmmfrchlsma-busybox-1.36.1]
tmp: true
users: [{name: app, uid: 1000, gid: 1000, home: /home/app}]
`, ex, ex)
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, logs bytes.Buffer
	rep, err := Build(context.Background(), Options{
		PlanFile: planFile, TempDir: t.TempDir(), Log: &logs,
		Progress: progress.New(&out, progress.MinTotal(1)),
	}, &publish.OCILayout{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, logs.String())
	}
	var root int64
	for _, l := range rep.Layers {
		if l.Name == "root" {
			if len(l.Paths) != 0 || l.NarSize == 0 {
				t.Fatalf("root layer: %d store paths, %d bytes; want none and its files", len(l.Paths), l.NarSize)
			}
			root = l.NarSize
		}
	}
	m := regexp.MustCompile(`(?m)^build root: (.*) \(100%\) in `).FindStringSubmatch(out.String())
	if m == nil || m[1] != bytesize.Format(root) {
		t.Errorf("progress has no line 'build root: %s (100%%) in …':\n%s", bytesize.Format(root), out.String())
	}
}

// TestPhasesAnnouncedOnce: each phase reaches Options.Phase (the action's
// log groups) and the progress timings from one announcement, in order.
func TestPhasesAnnouncedOnce(t *testing.T) {
	var out, logs bytes.Buffer
	var phases []Phase
	dir := t.TempDir()
	_, err := Build(context.Background(), Options{
		PlanFile: examplePlan, TempDir: t.TempDir(), Log: &logs,
		Phase:    func(p Phase) { phases = append(phases, p) },
		Progress: progress.New(&out),
	}, &publish.OCILayout{Dir: dir})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, logs.String())
	}
	// The action's log group names, as workflows see them.
	want := []Phase{"Resolve plan and closures", "Read previous images", "Reuse or build layers", Phase("Publish oci:" + dir)}
	if fmt.Sprint(phases) != fmt.Sprint(want) {
		t.Errorf("phases %q, want %q", phases, want)
	}
	if !regexp.MustCompile(`took: resolve \S+, previous image \S+, build \S+, publish \S+\n`).MatchString(logs.String()) {
		t.Errorf("no 'took: resolve …, previous image …, build …, publish …' line:\n%s", logs.String())
	}
}
