package e2e

// Contents e2e: splitting a layer over max-size.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// pksPlan is a plan with one layer of every pk, optionally size-capped.
func pksPlan(fx *nixfix.Fixture, maxSize string) string {
	var deps []string
	for i := 1; i <= contentsPaks; i++ {
		deps = append(deps, fmt.Sprintf("%q", fx.Ref(fmt.Sprintf("pk%d", i))))
	}
	s := "version: 1\nlayers:\n  - name: pks\n    deps: [" + strings.Join(deps, ", ") + "]\n"
	if maxSize != "" {
		s += "    max-size: " + maxSize + "\n"
	}
	return s
}

// pksAttrs is every pk attribute of the contents flake, plus extra.
func pksAttrs(extra ...string) []string {
	var attrs []string
	for i := 1; i <= contentsPaks; i++ {
		attrs = append(attrs, fmt.Sprintf("pk%d", i))
	}
	return append(attrs, extra...)
}

// pksTopPlan is pksPlan plus a layer above holding suite, which references
// every pk.
func pksTopPlan(fx *nixfix.Fixture, maxSize string) string {
	return pksPlan(fx, maxSize) + fmt.Sprintf("  - name: top\n    deps: [%q]\n", fx.Ref("suite"))
}

// Test 5: a layer split under a tiny max-size, and a one-package change
// that touches one part only.
func TestE2EContentsSplitLayer(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	// plan reads the closure of what is built (or in a cache) and builds
	// nothing itself: build every package the plans name first.
	fx.Build(t, pksAttrs("suite")...)
	whole := planCLI(t, writePlan(t, "whole.yaml", pksPlan(fx, "")))
	splitFile := writePlan(t, "split.yaml", pksTopPlan(fx, "64KiB"))
	split := planCLI(t, splitFile)

	var wholePaths []string
	for _, l := range whole.Layers {
		if l.Name == "pks" {
			wholePaths = l.Paths
		}
	}
	if len(wholePaths) != contentsPaks {
		t.Fatalf("unsplit pks layer holds %v, want the %d packages", wholePaths, contentsPaks)
	}
	seen := map[string]string{}
	var parts []string
	for _, l := range split.Layers {
		if l.Group != "pks" {
			continue
		}
		parts = append(parts, l.Name)
		if l.NarSize > 64<<10 {
			t.Errorf("part %s NAR size %d > max-size 65536", l.Name, l.NarSize)
		}
		if len(l.Paths) == 0 {
			t.Errorf("part %s is empty", l.Name)
		}
		for _, p := range l.Paths {
			if other, ok := seen[p]; ok {
				t.Errorf("%s is in both %s and %s", p, other, l.Name)
			}
			seen[p] = l.Name
		}
	}
	if len(parts) < 3 {
		t.Fatalf("split into %v, want at least 3 parts", parts)
	}
	for i, name := range parts {
		if want := fmt.Sprintf("pks-%d", i+1); name != want {
			t.Errorf("part %d named %q, want %q", i, name, want)
		}
	}
	var union []string
	for p := range seen {
		union = append(union, p)
	}
	if strings.Join(sortedCopy(union), " ") != strings.Join(sortedCopy(wholePaths), " ") {
		t.Errorf("union of parts %v != unsplit layer %v", sortedCopy(union), wholePaths)
	}

	// A single package over the limit: a clear error naming it, before
	// anything is built or pushed.
	reg := registry.Start(t, registry.Options{})
	tiny := writePlan(t, "tiny.yaml", pksPlan(fx, "8KiB"))
	_, _, err := runCLI(t, nil, "build", "--plan", tiny, "--image", reg.Ref("contents/tiny:latest"))
	if err == nil || !strings.Contains(err.Error(), "-pk") || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a store path over max-size: error %v, want one naming the path and its size", err)
	}
	if cat, cerr := registryCatalog(reg); cerr != nil || strings.Contains(cat, "tiny") {
		t.Errorf("refused build reached the registry: %s %v", cat, cerr)
	}

	ref := reg.Ref("contents/split:latest")
	a := buildCLI(t, splitFile, ref)
	for _, name := range parts {
		if l := a.Layers[a.layer(t, name)]; l.Status != "pushed" {
			t.Errorf("cold build: part %s status %q", name, l.Status)
		}
	}

	// pk3 gets a new version: exactly one part changes.
	fx2 := contentsFixture(t, map[string]string{"pk3": "1.1"})
	fx2.Build(t, pksAttrs("suite")...)
	split2File := writePlan(t, "split.yaml", pksTopPlan(fx2, "64KiB"))
	b := buildCLI(t, split2File, ref)
	var rebuilt []string
	for _, l := range b.Layers {
		if !strings.HasPrefix(l.Name, "pks-") {
			continue
		}
		switch l.Status {
		case "cached":
			if l.Digest != a.Layers[a.layer(t, l.Name)].Digest {
				t.Errorf("cached part %s has a new digest", l.Name)
			}
		case "pushed":
			rebuilt = append(rebuilt, l.Name)
		default:
			t.Errorf("part %s status %q", l.Name, l.Status)
		}
	}
	if len(rebuilt) != 1 {
		t.Errorf("a one-package change rebuilt parts %v, want exactly one (layers %v → %v)", rebuilt, layerNames(a), layerNames(b))
	}
	// The layer above references pk3, so it changes too.
	if l := b.Layers[b.layer(t, "top")]; l.Status != "pushed" {
		t.Errorf("layer top (suite references pk3) status %q, want pushed", l.Status)
	}
}
