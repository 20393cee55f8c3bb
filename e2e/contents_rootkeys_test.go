package e2e

// Contents e2e: root-layer options change the root layer's key only.

import (
	"fmt"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

// Root-layer options (tmp, users, nix-db, root contents) shape only the
// root layer: each changes its key and no other layer's.
func TestE2EContentsOptionsKeyOnlyRootLayer(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox", "app", "env")
	base := fmt.Sprintf(`version: 1
layers:
  - name: bb
    deps: [%q]
  - name: app
    deps: [%q]
config:
  entrypoint: [%q]
`, fx.Ref("busybox"), fx.Ref("app"), out["app"]+"/bin/hello")
	keys := func(extra string) map[string]string {
		p := planCLI(t, writePlan(t, "nix-layers.yaml", base+extra))
		m := map[string]string{}
		for _, l := range p.Layers {
			if !l.Empty {
				m[l.Name] = l.Key
			}
		}
		return m
	}
	variants := map[string]string{
		"tmp":    "tmp: true\n",
		"users":  "tmp: true\nusers:\n  - {name: app, uid: 1000, gid: 1000, home: /home/app}\n",
		"users2": "tmp: true\nusers:\n  - {name: app, uid: 1001, gid: 1001, home: /home/app}\n",
		"nix-db": "tmp: true\nnix-db: true\n",
		"root":   fmt.Sprintf("tmp: true\nroot: [%q]\n", fx.Ref("env")),
	}
	ref := keys("")
	if ref["bb"] == "" || ref["app"] == "" {
		t.Fatalf("layers %v", ref)
	}
	seenRoot := map[string]string{}
	for name, extra := range variants {
		k := keys(extra)
		for _, l := range []string{"bb", "app"} {
			if k[l] != ref[l] {
				t.Errorf("%s: layer %s key changed %s → %s", name, l, ref[l], k[l])
			}
		}
		if k["root"] == "" {
			t.Errorf("%s: no root layer: %v", name, k)
			continue
		}
		if other, ok := seenRoot[k["root"]]; ok {
			t.Errorf("%s and %s give the same root key", name, other)
		}
		seenRoot[k["root"]] = name
	}
}
