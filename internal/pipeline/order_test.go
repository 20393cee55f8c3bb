package pipeline

import (
	"slices"
	"testing"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/resolve"
)

// TestLargestFirst: the largest layers build first, plan order among equals.
func TestLargestFirst(t *testing.T) {
	mk := func(name string, size int64) *imageLayer {
		return &imageLayer{plan: resolve.Planned{Spec: layer.Spec{Name: name, Paths: []layer.StorePath{{Path: "/nix/store/x-" + name, NarSize: size}}}}}
	}
	ls := []*imageLayer{mk("base", 10), mk("cuda", 900), mk("torch", 400), mk("a", 10), mk("b", 10)}
	var got []string
	for _, l := range largestFirst(ls) {
		got = append(got, l.plan.Name())
	}
	if want := []string{"cuda", "torch", "base", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if ls[0].plan.Name() != "base" {
		t.Error("largestFirst reordered its input")
	}
}
