package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/sbom"
	"github.com/org/nix-layer-action/internal/testutil/cdxschema"
)

func TestImageMetadata(t *testing.T) {
	const src, rev = "org.opencontainers.image.source", "org.opencontainers.image.revision"
	defaults := map[string]string{src: "https://github.com/o/r", rev: "abc"}
	for _, tc := range []struct {
		name                       string
		labels, plan, annots       map[string]string
		wantLabelSrc, wantAnnotSrc string
	}{
		{name: "defaults only", wantLabelSrc: "https://github.com/o/r", wantAnnotSrc: "https://github.com/o/r"},
		{name: "labels input replaces the default in both", labels: map[string]string{src: "L"}, wantLabelSrc: "L", wantAnnotSrc: "L"},
		{name: "plan label replaces the default in both", plan: map[string]string{src: "P"}, wantLabelSrc: "P", wantAnnotSrc: "P"},
		{name: "plan label wins over labels input", labels: map[string]string{src: "L"}, plan: map[string]string{src: "P"}, wantLabelSrc: "P", wantAnnotSrc: "P"},
		{name: "annotation replaces the default in both", annots: map[string]string{src: "A"}, wantLabelSrc: "A", wantAnnotSrc: "A"},
		{name: "each place keeps its own explicit value", labels: map[string]string{src: "L"}, annots: map[string]string{src: "A"}, wantLabelSrc: "L", wantAnnotSrc: "A"},
	} {
		l, a := imageMetadata(defaults, tc.labels, tc.plan, tc.annots)
		if l[src] != tc.wantLabelSrc || a[src] != tc.wantAnnotSrc {
			t.Errorf("%s: label %q annotation %q, want %q %q", tc.name, l[src], a[src], tc.wantLabelSrc, tc.wantAnnotSrc)
		}
		if l[rev] != "abc" || a[rev] != "abc" {
			t.Errorf("%s: an untouched default changed: %q %q", tc.name, l[rev], a[rev])
		}
	}
	// Keys that are not defaults stay where they were given.
	l, a := imageMetadata(nil, map[string]string{"team": "ml"}, map[string]string{"x": "1"}, map[string]string{"y": "2"})
	if !reflect.DeepEqual(l, map[string]string{"team": "ml", "x": "1"}) || !reflect.DeepEqual(a, map[string]string{"y": "2"}) {
		t.Errorf("labels %v annotations %v", l, a)
	}
	if _, a := imageMetadata(nil, nil, nil, nil); a != nil {
		t.Errorf("no annotations at all gave %v, want nil (no empty annotations object)", a)
	}
}

// buildLayout builds the example into an OCI layout with o's metadata.
func buildLayout(t *testing.T, o Options) (*Result, v1.Image) {
	t.Helper()
	dir := t.TempDir()
	o.PlanFile, o.TempDir = examplePlan, t.TempDir()
	var logs bytes.Buffer
	o.Log = &logs
	res, err := BuildResult(context.Background(), o, &publish.OCILayout{Dir: dir})
	if err != nil {
		t.Fatalf("BuildResult: %v\n%s", err, logs.String())
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(res.Report.Digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	return res, img
}

func TestBuildCarriesMetadataReproducibly(t *testing.T) {
	created := time.Date(2025, 11, 20, 10, 1, 2, 0, time.UTC)
	o := Options{
		Created: created,
		Metadata: map[string]string{
			"org.opencontainers.image.source":  "https://github.com/o/r",
			"org.opencontainers.image.created": created.Format(time.RFC3339),
			"org.opencontainers.image.title":   "r",
		},
		Labels:      map[string]string{"team": "ml"},
		Annotations: map[string]string{"org.example.note": "n"},
	}
	res, img := buildLayout(t, o)
	again, _ := buildLayout(t, o)
	if res.Report.Digest != again.Report.Digest {
		t.Errorf("same inputs, digests %s and %s", res.Report.Digest, again.Report.Digest)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	// The example plan labels org.opencontainers.image.title: the plan's
	// value replaces the default in the annotations too.
	wantA := map[string]string{
		"org.opencontainers.image.source":  "https://github.com/o/r",
		"org.opencontainers.image.created": "2025-11-20T10:01:02Z",
		"org.opencontainers.image.title":   "nix-layer-action example",
		"org.example.note":                 "n",
	}
	if !reflect.DeepEqual(m.Annotations, wantA) {
		t.Errorf("manifest annotations %v, want %v", m.Annotations, wantA)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"team": "ml", "org.opencontainers.image.source": "https://github.com/o/r", "org.opencontainers.image.title": "nix-layer-action example"} {
		if cf.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
		}
	}
	if _, ok := cf.Config.Labels["org.example.note"]; ok {
		t.Error("an annotation-only key became a label")
	}
	if !cf.Created.Time.Equal(created) {
		t.Errorf("config created %v, want %v", cf.Created.Time, created)
	}
	// Another created time is another image.
	o.Metadata = maps.Clone(o.Metadata)
	o.Metadata["org.opencontainers.image.created"] = "2025-11-21T00:00:00Z"
	if other, _ := buildLayout(t, o); other.Report.Digest == res.Report.Digest {
		t.Error("a different created annotation left the digest unchanged")
	}
}

func TestResultSBOM(t *testing.T) {
	created := time.Date(2025, 11, 20, 10, 1, 2, 0, time.UTC)
	target, err := name.ParseReference("ghcr.io/o/r:v1")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := buildLayout(t, Options{Created: created, Target: target})
	bom, err := res.SBOM("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sbom.Write(&buf, bom); err != nil {
		t.Fatal(err)
	}
	if err := cdxschema.Validate(t, buf.Bytes()); err != nil {
		t.Fatalf("SBOM does not validate: %v\n%s", err, buf.String())
	}
	var d struct {
		Metadata struct {
			Timestamp string
			Component struct {
				Name, Version, Purl string
				Hashes              []struct{ Content string }
			}
		}
		Components []struct {
			BOMRef string `json:"bom-ref"`
		}
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	mc := d.Metadata.Component
	if mc.Name != "ghcr.io/o/r" || mc.Version != "v1" || len(mc.Hashes) != 1 || "sha256:"+mc.Hashes[0].Content != res.Report.Digest || d.Metadata.Timestamp != "2025-11-20T10:01:02Z" {
		t.Errorf("metadata %+v (digest %s)", d.Metadata, res.Report.Digest)
	}
	// Components: exactly the store paths of the image's layers.
	var want []string
	for _, l := range res.Report.Layers {
		want = append(want, l.Paths...)
	}
	slices.Sort(want)
	var got []string
	for _, c := range d.Components {
		got = append(got, c.BOMRef)
	}
	if !slices.Equal(got, want) || len(got) != 3 {
		t.Errorf("components %v, want the layers' paths %v", got, want)
	}
	// Dependencies: every path's references.
	if len(d.Dependencies) != len(want)+1 {
		t.Errorf("%d dependency entries, want one per path and the image's", len(d.Dependencies))
	}
	for _, dep := range d.Dependencies {
		info, ok := res.Resolved.Graph.Info(dep.Ref)
		if !ok {
			continue // the image itself
		}
		refs := slices.DeleteFunc(slices.Clone(info.References), func(r string) bool { return r == dep.Ref })
		slices.Sort(refs)
		if !slices.Equal(dep.DependsOn, refs) {
			t.Errorf("%s depends on %v, references %v", dep.Ref, dep.DependsOn, refs)
		}
	}
	// Without a target or created time: a placeholder name, no timestamp.
	res, _ = buildLayout(t, Options{})
	bom, err = res.SBOM("")
	if err != nil {
		t.Fatal(err)
	}
	if bom.Metadata.Component.Name != UnnamedImage || bom.Metadata.Timestamp != "" {
		t.Errorf("unnamed image: %+v", bom.Metadata)
	}
}
