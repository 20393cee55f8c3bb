package plan

import (
	"reflect"
	"testing"
)

// TestEachDep checks that EachDep yields every dep in plan order with the
// layer and field path that name it, and stops when asked.
func TestEachDep(t *testing.T) {
	src := `version: 1
layers:
  - name: base
    deps: [/nix/store/` + h + `-a, /nix/store/` + h + `-b]
  - name: app
    deps: [".#app"]
root: [/nix/store/` + h + `-c]
config:
  entrypoint: [{installable: ".#tool", path: /bin/tool}]
`
	p, err := Parse("/proj/plan.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	type got struct{ layer, field, raw string }
	var all []got
	for ref := range p.EachDep() {
		all = append(all, got{ref.Layer, ref.Field, ref.Dep.Raw})
	}
	want := []got{
		{"base", "layers[0].deps[0]", "/nix/store/" + h + "-a"},
		{"base", "layers[0].deps[1]", "/nix/store/" + h + "-b"},
		{"app", "layers[1].deps[0]", ".#app"},
		{RootLayerName, "root[0]", "/nix/store/" + h + "-c"},
		{ConfigLayerName, "config.entrypoint[0].installable", ".#tool"},
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("EachDep = %v\nwant %v", all, want)
	}
	n := 0
	for range p.EachDep() {
		n++
		break
	}
	if n != 1 {
		t.Errorf("EachDep went on after break: %d", n)
	}
}
