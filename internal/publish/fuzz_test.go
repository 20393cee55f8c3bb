package publish

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzParseOutput: --output values never panic; what parses renders back
// (Output.String) to a value that parses to the same Output.
func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{"registry", "oci:./out", "docker-archive:img.tar", "oci:", "oci", "docker-archive:a:b", " registry ", "s3:bucket", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOutput(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		switch o.Kind {
		case KindRegistry:
			if o.Path != "" {
				t.Fatalf("registry output with a path %q", o.Path)
			}
		case KindOCI, KindDockerArchive:
			if o.Path == "" {
				t.Fatalf("%s output without a path from %q", o.Kind, s)
			}
		default:
			t.Fatalf("unknown kind %q from %q", o.Kind, s)
		}
		back, err := ParseOutput(o.String())
		if err != nil || back != o {
			// A path with surrounding blanks is trimmed on the way back.
			if strings.TrimSpace(o.Path) == o.Path {
				t.Fatalf("%q → %+v → %q → %+v, %v", s, o, o.String(), back, err)
			}
		}
	})
}

// FuzzImageRef: image references and extra tags, parsed the way the
// pipeline and Registry parse them, never panic, and a parsed reference's
// name parses back to the same reference.
func FuzzImageRef(f *testing.F) {
	for _, s := range [][2]string{
		{"ghcr.io/acme/app:latest", "v1"}, {"127.0.0.1:5000/a/b@sha256:" + strings.Repeat("a", 64), "x"},
		{"app", ""}, {"UPPER/case", "t"}, {"a/b:c:d", "-bad"}, {"ghcr.io/a/b:" + strings.Repeat("t", 200), strings.Repeat("t", 129)},
		{"localhost/x", "ok_tag.1"}, {"a//b", "\n"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, image, tag string) {
		ref, err := name.ParseReference(image)
		if err != nil {
			return
		}
		again, err := name.ParseReference(ref.Name())
		if err != nil {
			t.Fatalf("%q parsed as %q, which does not parse: %v", image, ref.Name(), err)
		}
		if again.Name() != ref.Name() {
			t.Fatalf("%q → %q → %q", image, ref.Name(), again.Name())
		}
		tr, err := name.NewTag(ref.Context().String()+":"+tag, name.StrictValidation)
		if err != nil {
			return
		}
		if tr.Context().String() != ref.Context().String() {
			t.Fatalf("extra tag %q moved the repository: %s → %s", tag, ref.Context(), tr.Context())
		}
	})
}
