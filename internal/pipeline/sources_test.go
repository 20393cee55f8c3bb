package pipeline

import (
	"reflect"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/plan"
)

// needsBuild realises a root-filesystem source the local store lacks only
// when no cache has it or its NAR is too large to hold in memory; a cached
// small one is read from its NAR instead.
func TestNeedsBuildRootSources(t *testing.T) {
	const (
		env  = "/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-env"
		big  = "/nix/store/1p4xwchsizxh2rncg9yrxjb8j3fh2lga-big-env"
		gone = "/nix/store/2p4xwchsizxh2rncg9yrxjb8j3fh2lgb-gone-env"
		lib  = "/nix/store/3p4xwchsizxh2rncg9yrxjb8j3fh2lgc-lib"
	)
	p := &plan.Plan{Root: []plan.Dep{{Kind: plan.Installable, Value: "/f#env"}, {Kind: plan.Installable, Value: "/f#big"}, {Kind: plan.Installable, Value: "/f#gone"}}}
	outputs := map[string][]string{"/f#env": {env}, "/f#big": {big}, "/f#gone": {gone}}
	cached := []closure.PathInfo{
		{Path: env, NarSize: 4096, References: []string{lib}},
		{Path: big, NarSize: rootFromNARLimit + 1, References: []string{lib}},
		{Path: lib, NarSize: 1 << 20},
	}
	invalid := []string{env, big, gone, lib}
	got := needsBuild(p, outputs, nil, invalid, cached, []string{gone}, []string{env, big, gone})
	if want := []string{"/f#big", "/f#gone"}; !reflect.DeepEqual(got, want) {
		t.Errorf("needsBuild = %v, want %v (the small cached env is read from its NAR)", got, want)
	}
	// Valid locally: nothing to realise, whatever its size.
	if got := needsBuild(p, outputs, nil, nil, nil, nil, []string{env, big}); len(got) != 0 {
		t.Errorf("all valid: needsBuild = %v", got)
	}
}
