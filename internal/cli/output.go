package cli

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/multiarch"
	"github.com/org/nix-layer-action/internal/publish"
)

// ociLayout is the publisher for --output oci:DIR[:TAG]. The image is
// named TAG in the layout's index (org.opencontainers.image.ref.name), so
// skopeo (oci:DIR:TAG) and umoci (--image DIR:TAG) can address it; without
// :TAG the tag of --image is used, else "latest".
func ociLayout(out publish.Output, image string) *publish.OCILayout {
	dir, tag := splitLayoutTag(out.Path)
	if tag == "" {
		tag = "latest"
		if t, err := name.NewTag(image); image != "" && err == nil {
			tag = t.TagStr()
		}
	}
	return &publish.OCILayout{Dir: dir, RefName: tag}
}

// splitLayoutTag splits "DIR:TAG"; a last ':' not followed by a tag (as in
// a directory name with a colon) is part of DIR.
func splitLayoutTag(p string) (dir, tag string) {
	i := strings.LastIndexByte(p, ':')
	if i <= 0 || !multiarch.ValidTag(p[i+1:]) {
		return p, ""
	}
	return p[:i], p[i+1:]
}

// outputProblem is what is wrong with --output value v, without the
// publish package's naming of v (the flag names it already).
func outputProblem(err error, v string) string {
	msg := err.Error()
	q := fmt.Sprintf("%q: ", strings.TrimSpace(v))
	if rest, ok := strings.CutPrefix(msg, "unknown output "+q); ok {
		return "unknown destination; " + strings.Replace(rest, `"oci:DIR"`, `"oci:DIR[:TAG]"`, 1)
	}
	return strings.TrimPrefix(msg, "output "+q)
}
