package cli

import (
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/publish"
)

// tagRE is what an OCI layout's ref.name may be here: a tag.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

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
	if i <= 0 || !tagRE.MatchString(p[i+1:]) {
		return p, ""
	}
	return p[:i], p[i+1:]
}
