package pipeline

// Fast tests of keys, reuse and statuses over the bundled example (a
// closure graph and a store tree: no Nix), publishing to
// go-containerregistry's in-memory registry. The e2e package repeats the
// important ones against the real registry and real clients.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
)

const examplePlan = "../../examples/quickstart/nix-layers.yaml"

// build runs Build of plan to ref on the counting registry (gzip).
func build(t *testing.T, c *memregistry.Registry, plan, repoTag string) *report.Report {
	t.Helper()
	rep, _ := buildIn(t, c, plan, repoTag, layer.Format{})
	return rep
}

func statuses(rep *report.Report) map[string]report.Status {
	m := map[string]report.Status{}
	for _, l := range rep.Layers {
		if !l.Empty {
			m[l.Name] = l.Status
		}
	}
	return m
}

// Every planned layer's key is layer.Key of exactly its Spec.
func TestResolveKeysAreKeysOfTheSpecs(t *testing.T) {
	res, err := Resolve(context.Background(), examplePlan, NixOptions{}, nil, layer.Format{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range res.Layers {
		if l.Empty {
			if l.Key != "" {
				t.Errorf("empty layer %s has key %s", l.Name(), l.Key)
			}
			continue
		}
		names = append(names, l.Name())
		k, err := layer.Key(l.Spec)
		if err != nil || k != l.Key {
			t.Errorf("layer %s: key %s, Key(Spec) = %s, %v", l.Name(), l.Key, k, err)
		}
		if len(l.Spec.Paths) != len(l.Paths()) {
			t.Errorf("layer %s: spec has %d paths, layering %d", l.Name(), len(l.Spec.Paths), len(l.Paths()))
		}
		// The Spec holds the layer's facts: each path's NAR hash and size
		// as the closure graph has them.
		for _, sp := range l.Spec.Paths {
			if info, ok := res.Graph.Info(sp.Path); !ok || info.NarHash != sp.NarHash || info.NarSize != sp.NarSize {
				t.Errorf("layer %s: spec path %+v, graph %+v", l.Name(), sp, info)
			}
		}
	}
	if strings.Join(names, ",") != "base,libs,app" {
		t.Errorf("layers %v", names)
	}
}

// A push uploads everything; a rerun reuses every layer, uploads nothing,
// writes no manifest and asks per layer for nothing: the previous
// manifest and config, and one check of the tag afterwards.
func TestPushThenNoChangeRerun(t *testing.T) {
	c := memregistry.Start(t)
	first := build(t, c, examplePlan, "ex/app:latest")
	// A cold push asks about the tag twice: the GET that finds nothing,
	// and the HEAD after the push that checks no other run moved it.
	manifestCalls := 0
	for _, r := range c.Take() {
		if strings.Contains(r, "/manifests/latest") && !strings.HasPrefix(r, "PUT ") {
			manifestCalls++
		}
	}
	if manifestCalls != 2 {
		t.Errorf("cold push: %d GET/HEAD requests for the tag, want 2 (the 404 already says it holds nothing)", manifestCalls)
	}
	for n, s := range statuses(first) {
		if s != report.StatusPushed {
			t.Errorf("first push: layer %s %s", n, s)
		}
	}
	if !first.Changed || first.BytesPushed == 0 {
		t.Errorf("first push: changed %v, %d bytes", first.Changed, first.BytesPushed)
	}
	again := build(t, c, examplePlan, "ex/app:latest")
	for n, s := range statuses(again) {
		if s != report.StatusCached {
			t.Errorf("rerun: layer %s %s", n, s)
		}
	}
	if again.Changed || again.BytesPushed != 0 || again.Digest != first.Digest {
		t.Errorf("rerun: changed %v, %d bytes, %s vs %s", again.Changed, again.BytesPushed, again.Digest, first.Digest)
	}
	var calls []string
	for _, r := range c.Take() {
		if r != "GET /v2/" {
			calls = append(calls, r)
		}
	}
	m := "/v2/ex/app/manifests/latest"
	want := []string{"GET " + m, "GET /v2/ex/app/blobs/" + configDigest(t, first), "HEAD " + m}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("no-change requests:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}

func configDigest(t *testing.T, rep *report.Report) string {
	t.Helper()
	// The config digest is the one blob of the image that is no layer.
	c := newCountingClient(t)
	ref, _ := name.ParseReference(rep.Image)
	prev, err := image.LoadPrevious(context.Background(), c, ref, v1.Platform{})
	if err != nil || prev == nil {
		t.Fatalf("reading back %s: %v", rep.Image, err)
	}
	m, _ := prev.Image.Manifest()
	return m.Config.Digest.String()
}

func newCountingClient(t *testing.T) *regclient.Client {
	t.Helper()
	c, err := regclient.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A change of one package rebuilds its layer only.
func TestOneChangeRebuildsOneLayer(t *testing.T) {
	c := memregistry.Start(t)
	build(t, c, examplePlan, "ex/one:latest")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Dir(examplePlan))); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "nix-layers.yaml")
	data, _ := os.ReadFile(plan)
	// The same store, another label: the config changes, no layer does.
	data = bytes.Replace(data, []byte("nix-layer-action example"), []byte("nix-layer-action example 2"), 1)
	if err := os.WriteFile(plan, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep := build(t, c, plan, "ex/one:latest")
	for n, s := range statuses(rep) {
		if s != report.StatusCached {
			t.Errorf("config-only change: layer %s %s", n, s)
		}
	}
	if !rep.Changed {
		t.Error("a config change did not change the image")
	}
}

// verify accepts only a layer that proves it is ours.
func TestVerify(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	diff := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	paths := []string{"/nix/store/" + strings.Repeat("c", 32) + "-x"}
	good := image.PreviousLayer{
		Meta:         image.LayerMeta{Paths: []image.PathSize{{Path: paths[0]}}, Digest: d.String(), Size: 10, DiffID: diff.String()},
		Descriptor:   v1.Descriptor{MediaType: types.OCILayer, Digest: d, Size: 10},
		ConfigDiffID: diff,
	}
	if why := verify(good, paths, types.OCILayer); why != "" {
		t.Fatalf("a faithful layer was refused: %s", why)
	}
	for name, edit := range map[string]func(*image.PreviousLayer){
		"truncated":            func(p *image.PreviousLayer) { p.Meta.Truncated = true },
		"no paths":             func(p *image.PreviousLayer) { p.Meta.Paths = nil },
		"other paths":          func(p *image.PreviousLayer) { p.Meta.Paths = []image.PathSize{{Path: paths[0] + "y"}} },
		"docker media":         func(p *image.PreviousLayer) { p.Descriptor.MediaType = types.DockerLayer },
		"zstd media":           func(p *image.PreviousLayer) { p.Descriptor.MediaType = types.OCILayerZStd },
		"unrecorded":           func(p *image.PreviousLayer) { p.Meta.Digest = "" },
		"size lies":            func(p *image.PreviousLayer) { p.Descriptor.Size = 11 },
		"digest lies":          func(p *image.PreviousLayer) { p.Descriptor.Digest = diff },
		"diffID lies":          func(p *image.PreviousLayer) { p.ConfigDiffID = d },
		"empty list for paths": func(p *image.PreviousLayer) { p.Meta.Paths = []image.PathSize{} },
	} {
		p := good
		edit(&p)
		if why := verify(p, paths, types.OCILayer); why == "" {
			t.Errorf("%s: accepted", name)
		}
	}
	// A layer with no store paths of its own (a root layer whose paths all
	// sit in earlier layers) records an empty list, which matches an empty
	// plan; no list at all does not.
	empty := good
	empty.Meta.Paths = []image.PathSize{}
	if why := verify(empty, nil, types.OCILayer); why != "" {
		t.Errorf("an empty recorded path list for an empty plan was refused: %s", why)
	}
	empty.Meta.Paths = nil
	if why := verify(empty, nil, types.OCILayer); why == "" {
		t.Error("a layer recording no path list was accepted for an empty plan")
	}
}
