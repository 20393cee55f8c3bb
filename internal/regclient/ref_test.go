package regclient

import (
	"strings"
	"testing"
)

func TestParseReferenceSaysWhatToWrite(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ghcr.io/Org/App:latest", `repository names must be lowercase: write "ghcr.io/org/app:latest"`},
		{"ghcr.io/Org/App:V1.0", `write "ghcr.io/org/app:V1.0"`}, // a tag may have capitals
		{"Org/App", `write "org/app"`},
		{"http://127.0.0.1:5000/a/b:latest", `write "127.0.0.1:5000/a/b:latest" (drop http://; registries on 127.0.0.1 or localhost are reached over plain HTTP automatically)`},
		{"https://ghcr.io/org/app", `write "ghcr.io/org/app" (drop https://;`},
		{"", "the image reference is empty"},
		{"ghcr.io/org/app:bad tag", `"ghcr.io/org/app:bad tag" is not an image reference like ghcr.io/acme/app:latest`},
	} {
		_, err := ParseReference(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want …%s…", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "name.Insecure") {
			t.Errorf("%q: a library hint leaks: %v", tt.in, err)
		}
	}
	for _, ok := range []string{"ghcr.io/org/app:V1", "127.0.0.1:5000/a/b", "localhost/x@sha256:" + strings.Repeat("a", 64)} {
		if _, err := ParseReference(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
