package resolve

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/plan"
)

// The bundled example resolved with another config.
func exampleWith(t *testing.T, config string) *Resolved {
	t.Helper()
	res, err := Resolve(context.Background(), examplePlan, NixOptions{}, nil, layer.Format{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse(examplePlan, []byte("version: 1\nlayers: [{name: a, deps: [/nix/store/vf1fqirafqhkai9p3r32j6x8x39qkkv7-app-1.0]}]\nconfig:\n"+config))
	if err != nil {
		t.Fatal(err)
	}
	res.Plan.Config = p.Config
	return res
}

const app = "/nix/store/vf1fqirafqhkai9p3r32j6x8x39qkkv7-app-1.0"

func TestCheckConfigOnTheStoreTree(t *testing.T) {
	res := exampleWith(t, "  entrypoint: [\""+app+"/bin/app\"]\n  env: [\"PATH="+app+"/bin:/usr/bin\"]\n")
	got, err := res.CheckConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "nix-layers.yaml:5: config.env[0]: PATH entry /usr/bin is not in the image") || len(got.Notes) != 0 {
		t.Errorf("got %+v", got)
	}
	res = exampleWith(t, "  entrypoint: [\""+app+"/bin/nope\"]\n  check: strict\n")
	if _, err := res.CheckConfig(); err == nil || !strings.Contains(err.Error(), "config.entrypoint[0]: "+app+"/bin/nope is not in the image (config.check is strict)") {
		t.Errorf("strict: %v", err)
	}
	res = exampleWith(t, "  entrypoint: [/bin/nope]\n  check: off\n")
	if got, err := res.CheckConfig(); err != nil || len(got.Warnings)+len(got.Notes) != 0 {
		t.Errorf("off: %+v %v", got, err)
	}
}

// A base image's files are not read: what our layers lack is a note, not
// a warning, and cmd is not checked when the base has an entrypoint.
func TestCheckConfigWithABaseImage(t *testing.T) {
	cfg, _ := empty.Image.ConfigFile()
	cfg.Config.Entrypoint = []string{"/usr/bin/tini"}
	cfg.Config.Env = []string{"PATH=/usr/bin"}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference("ghcr.io/acme/base:1")
	res := exampleWith(t, "  cmd: [/bin/app]\n  env: [\"PATH=/opt/bin\"]\n")
	res.Base = &image.Previous{Ref: ref, Image: img}
	got, err := res.CheckConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Warnings) != 0 || len(got.Notes) != 1 ||
		!strings.Contains(got.Notes[0], "config.env[0]: PATH entry /opt/bin not checked: the base image ghcr.io/acme/base:1 may hold it; its files are not read") {
		t.Errorf("got %+v", got)
	}
}
