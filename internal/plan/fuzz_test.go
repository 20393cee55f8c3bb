package plan

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func addPlanSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(plansDir, "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed plans in %s: %v", plansDir, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzParse: Parse never panics or hangs, and every failure is a *Error
// with a sane position and something to say.
func FuzzParse(f *testing.F) {
	addPlanSeeds(f)
	f.Add([]byte("version: 1\nlayers:\n- &a {name: a, deps: [*a]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := Parse("/proj/nix-layers.yaml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, not *plan.Error", err, err)
			}
			if pl != nil {
				t.Fatalf("got both a plan and an error")
			}
			if pe.Line < 0 || pe.Column < 0 {
				t.Fatalf("negative position in %v", err)
			}
			if pe.Field == "" && pe.Msg == "" {
				t.Fatalf("error without field or message: %#v", pe)
			}
			return
		}
		if pl == nil || pl.Version != 1 || len(pl.Layers) == 0 {
			t.Fatalf("valid plan without version or layers: %+v", pl)
		}
		for _, l := range pl.Layers {
			if checkLayerName(l.Name) != "" {
				t.Fatalf("accepted bad layer name %q", l.Name)
			}
			if l.Auto == nil && len(l.Deps) == 0 {
				t.Fatalf("accepted layer %q without deps", l.Name)
			}
		}
		_ = pl.ConfigStorePaths()
	})
}
