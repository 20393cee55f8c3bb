package image

import (
	"bytes"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// FuzzLoadPreviousMeta feeds arbitrary manifest and config JSON (as a
// foreign image might carry) through the metadata reader: it must never
// panic, and whatever it returns must satisfy its own invariants.
func FuzzLoadPreviousMeta(f *testing.F) {
	img, err := Assemble(nil, testNamed(f, 2), ConfigOptions{})
	if err != nil {
		f.Fatal(err)
	}
	rm, _ := img.RawManifest()
	rc, _ := img.RawConfigFile()
	f.Add(rm, rc)
	f.Add(rm, []byte(`{"rootfs":{"diff_ids":[]},"history":[{"comment":"{"}]}`))
	f.Add([]byte(`{"layers":[{"digest":"sha256:`+strings.Repeat("a", 64)+`","annotations":{"org.nix-layer-action.key":"x"}}]}`),
		[]byte(`{"rootfs":{"diff_ids":["sha256:`+strings.Repeat("b", 64)+`"]},"history":[{"created_by":"nix-layer-action layer q","comment":"{\"key\":\"sha256:`+strings.Repeat("c", 64)+`\",\"paths\":[{\"path\":\"/a\",\"narSize\":1e99}]}"}]}`))
	f.Add([]byte(`null`), []byte(`null`))
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		m, err := v1.ParseManifest(bytes.NewReader(manifest))
		if err != nil {
			m = nil
		}
		cf, err := v1.ParseConfigFile(bytes.NewReader(config))
		if err != nil {
			cf = nil
		}
		metas, why := layerMetas(m, cf)
		if why != "" {
			if metas != nil {
				t.Fatalf("unusable (%s) but returned metas", why)
			}
			return
		}
		if len(metas) != len(m.Layers) {
			t.Fatalf("%d metas for %d layers", len(metas), len(m.Layers))
		}
		for _, meta := range metas {
			if meta.Key != "" && !keyRE.MatchString(meta.Key) {
				t.Fatalf("accepted malformed key %q", meta.Key)
			}
			if meta.Key == "" && len(meta.Paths) > 0 {
				t.Fatalf("paths without a key: %+v", meta)
			}
			for _, p := range meta.Paths {
				if !nixpath.Valid(p.Path) || p.NarSize < 0 {
					t.Fatalf("accepted bad path entry %+v", p)
				}
			}
		}
	})
}
