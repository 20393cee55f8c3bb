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
