package pipeline

import (
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/resolve"
	"github.com/org/nix-layer-action/internal/sbom"
)

// Result is a finished Build: its report and the resolution behind it.
type Result struct {
	Report *report.Report
	// Resolved is the plan as it was resolved for this build: the closure
	// graph, the roots of every layer and the platform.
	Resolved *resolve.Resolved
	target   name.Reference
	created  time.Time
}

// UnnamedImage names the image in the SBOM of a build without --image.
const UnnamedImage = "nix-layer-action"

// SBOM describes the image's Nix closure as a CycloneDX BOM: one
// component per store path of the closure of ImageRoots, the references
// as dependencies, and the image (repository, tag, manifest digest,
// architecture) as the subject. Its timestamp is the image's created time
// when one was set (Options.Created), so the same build gives the same
// bytes.
func (res *Result) SBOM(toolVersion string) (*cdx.BOM, error) {
	opts := sbom.Options{
		ImageName:    UnnamedImage,
		ImageDigest:  res.Report.Digest,
		Architecture: res.Resolved.Platform.Architecture,
		Timestamp:    res.created,
		ToolVersion:  toolVersion,
	}
	if res.target != nil {
		opts.ImageName = res.target.Context().Name()
		if t, ok := res.target.(name.Tag); ok {
			opts.ImageVersion = t.TagStr()
		}
	}
	return sbom.Generate(res.Resolved.Graph, res.Resolved.ImageRoots(), opts)
}
