package report

import (
	"strings"
	"testing"
)

// TestPlanRendering checks the plan command's table (empty layers left
// out of the count, a total row) and JSON (paths [] rather than null).
func TestPlanRendering(t *testing.T) {
	p := &Plan{File: "plan.yaml", Layers: []PlanLayer{
		{Name: "base", Key: "sha256:0123456789abcdef0123", NarSize: 2048, Paths: []string{"/nix/store/a", "/nix/store/b"}},
		{Name: "dup", Empty: true},
		{Name: "app", Key: "k", NarSize: 1024, Paths: []string{"/nix/store/c"}},
	}}
	var tb strings.Builder
	if err := p.Table(&tb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sha256:0123456789ab\n", "(empty: every path is in an earlier layer; left out)", "2 layers  3"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
	var jb strings.Builder
	if err := p.JSON(&jb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jb.String(), `"paths": []`) || !strings.Contains(jb.String(), `"plan": "plan.yaml"`) {
		t.Errorf("JSON:\n%s", jb.String())
	}
	if p.Layers[1].Paths != nil {
		t.Error("JSON changed the plan it rendered")
	}
}

// TestUnbuiltRendering checks plan --no-build's text and JSON.
func TestUnbuiltRendering(t *testing.T) {
	u := &Unbuilt{File: "plan.yaml", Deps: []UnbuiltDep{{Layer: "app", Dep: ".#app"}}, Derivations: []string{"/nix/store/" + strings.Repeat("a", 32) + "-app-1.0.drv"}}
	var tb strings.Builder
	if err := u.Text(&tb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  layer app: .#app\n", "Nix would build 1 derivation: app-1.0\n", "no layers shown"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, tb.String())
		}
	}
	var jb strings.Builder
	if err := u.JSON(&jb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jb.String(), `"fetch": []`) || !strings.Contains(jb.String(), `"layer": "app"`) {
		t.Errorf("JSON:\n%s", jb.String())
	}
}

func TestCount(t *testing.T) {
	if got := Count(1, "layer"); got != "1 layer" {
		t.Errorf("Count(1) = %q", got)
	}
	if got := Count(0, "path"); got != "0 paths" {
		t.Errorf("Count(0) = %q", got)
	}
}
