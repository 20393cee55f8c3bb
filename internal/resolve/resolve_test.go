package resolve

import (
	"context"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/layer"
)

const examplePlan = "../../examples/quickstart/nix-layers.yaml"

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

// Keys follow the format: Resolve in zstd keys every layer otherwise,
// and each key is layer.Key of a zstd Spec.
func TestResolveKeysFollowFormat(t *testing.T) {
	gz, err := Resolve(context.Background(), examplePlan, NixOptions{}, nil, layer.Format{})
	if err != nil {
		t.Fatal(err)
	}
	zs, err := Resolve(context.Background(), examplePlan, NixOptions{}, nil, layer.ZstdFormat)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range zs.Layers {
		if l.Empty {
			continue
		}
		if l.Spec.Format != layer.ZstdFormat || gz.Layers[i].Spec.Format != layer.DefaultFormat {
			t.Errorf("layer %s: formats %+v, %+v", l.Name(), l.Spec.Format, gz.Layers[i].Spec.Format)
		}
		if k, _ := layer.Key(l.Spec); k != l.Key || l.Key == gz.Layers[i].Key {
			t.Errorf("layer %s: zstd key %s (Key(Spec) %s), gzip key %s", l.Name(), l.Key, k, gz.Layers[i].Key)
		}
	}
}
