package resolve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/layer"
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
	// The budget is for all root sources together: two that fit alone do
	// not both fit.
	half := "/nix/store/4p4xwchsizxh2rncg9yrxjb8j3fh2lgd-half-env"
	p2 := &plan.Plan{Root: []plan.Dep{{Kind: plan.Installable, Value: "/f#env"}, {Kind: plan.Installable, Value: "/f#half"}}}
	cached2 := []closure.PathInfo{{Path: env, NarSize: rootFromNARLimit/2 + 1}, {Path: half, NarSize: rootFromNARLimit / 2}}
	got = needsBuild(p2, map[string][]string{"/f#env": {env}, "/f#half": {half}}, nil, []string{env, half}, cached2, nil, []string{env, half})
	if want := []string{"/f#half"}; !reflect.DeepEqual(got, want) {
		t.Errorf("over the total budget: needsBuild = %v, want %v", got, want)
	}
	// Valid locally: nothing to realise, whatever its size.
	if got := needsBuild(p, outputs, nil, nil, nil, nil, []string{env, big}); len(got) != 0 {
		t.Errorf("all valid: needsBuild = %v", got)
	}
}

// fakeNAR walks a fixed tree, counting walks; fail makes the walk end in
// an error after its entries (a NAR whose hash does not match).
type fakeNAR struct {
	walks int
	fail  bool
}

func (f *fakeNAR) Walk(ctx context.Context, p string, fn func(*layer.Entry) error) error {
	f.walks++
	for _, e := range []layer.Entry{
		{Path: p, Mode: fs.ModeDir | 0o555},
		{Path: p + "/bin", Mode: fs.ModeDir | 0o555},
		{Path: p + "/bin/sh", Mode: fs.ModeSymlink | 0o777, Linkname: "busybox"},
		{Path: p + "/etc-motd", Mode: 0o444, Size: 5, Body: strings.NewReader("hello")},
	} {
		if err := fn(&e); err != nil {
			return err
		}
	}
	if f.fail {
		return errors.New("NAR hash mismatch")
	}
	return nil
}

func walkAll(t *testing.T, src layer.Source, p string) []string {
	t.Helper()
	var out []string
	err := src.Walk(context.Background(), p, func(e *layer.Entry) error {
		s := e.Path + " " + e.Mode.String() + " " + e.Linkname
		if e.Body != nil {
			b, _ := io.ReadAll(e.Body)
			s += " " + string(b)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A path read whole through keeping is replayed, entry for entry and byte
// for byte, by every later walk, without walking the NAR again; a walk
// that failed is not kept.
func TestKeptNARsFetchOnce(t *testing.T) {
	const p = "/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-env"
	nar := &fakeNAR{}
	k := &keptNARs{entries: map[string][]keptEntry{}}
	first := walkAll(t, k.keeping(nar), p)
	again := walkAll(t, k.replaying(nar), p)
	third := walkAll(t, k.replaying(nar), p)
	if nar.walks != 1 || !reflect.DeepEqual(first, again) || !reflect.DeepEqual(first, third) || len(first) != 4 || !strings.HasSuffix(first[3], " hello") {
		t.Errorf("%d walks; first %q, replays %q and %q", nar.walks, first, again, third)
	}
	stop := errors.New("stop")
	if err := k.replaying(nar).Walk(context.Background(), p, func(*layer.Entry) error { return stop }); err != stop || nar.walks != 1 {
		t.Errorf("replay with a failing fn: %v after %d walks, want stop after 1", err, nar.walks)
	}

	bad := &fakeNAR{fail: true}
	const q = "/nix/store/1p4xwchsizxh2rncg9yrxjb8j3fh2lga-bad"
	if err := k.keeping(bad).Walk(context.Background(), q, func(*layer.Entry) error { return nil }); err == nil {
		t.Fatal("a failed walk succeeded")
	}
	if _, ok := k.get(q); ok {
		t.Error("a failed walk was kept")
	}
}

// The announcement names how many derivations, which (at most 8), why,
// and for which deps; a fetch-only plan says it fetches.
func TestBuildAnnouncement(t *testing.T) {
	var drvs []string
	for i := range 10 {
		drvs = append(drvs, fmt.Sprintf("/nix/store/%032d-p%d-1.0.drv", i, i))
	}
	got := buildAnnouncement(closure.DryRun{Build: drvs, Fetch: []string{"/nix/store/" + strings.Repeat("1", 32) + "-lib"}}, []string{".#app"})
	want := "nix: building 10 derivations no store or binary cache has (a package's closure is known only once it is built), and fetching 1 path from Nix's substituters, for .#app: p0-1.0, p1-1.0, p2-1.0, p3-1.0, p4-1.0, p5-1.0, p6-1.0, p7-1.0, … and 2 more"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := buildAnnouncement(closure.DryRun{Fetch: []string{"/nix/store/" + strings.Repeat("1", 32) + "-lib"}}, []string{".#a", ".#b"}); got != "nix: fetching 1 path from Nix's substituters (for .#a, .#b): lib" {
		t.Errorf("fetch only: %q", got)
	}
	if got := buildAnnouncement(closure.DryRun{}, []string{".#a"}); got != "" {
		t.Errorf("nothing to do: %q", got)
	}
}
