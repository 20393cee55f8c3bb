// Package pipeline wires the steps plan → closure → layering → layer →
// image → publish → report into the jobs the command line and the action
// run: Build (what `build` does: the plan resolved by internal/resolve,
// layers reused or built, the image assembled and published through the
// publish.Publisher the caller chose) and Diff. It reads no environment:
// everything arrives in Options.
package pipeline

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/progress"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/resolve"
	"github.com/org/nix-layer-action/internal/substituter"
)

// Phase is a part of a build; the action turns phases into log groups.
type Phase string

// The phases of Build, in order.
const (
	PhaseResolve  Phase = "Resolve plan and closures"
	PhasePrevious Phase = "Read previous images"
	PhaseLayers   Phase = "Reuse or build layers"
	PhasePublish  Phase = "Publish"
)

// timing is the phase's word in the progress reporter's timings ("took:
// resolve 0.4s, previous image 0.1s, build 12.3s, publish 3.2s").
func (p Phase) timing() string {
	switch p {
	case PhaseResolve:
		return "resolve"
	case PhasePrevious:
		return "previous image"
	case PhaseLayers:
		return "build"
	case PhasePublish:
		return "publish"
	}
	return string(p)
}

// Options configure Build.
type Options struct {
	PlanFile string
	// Target names the image (its reference in the report, and the tag a
	// registry publisher replaces); nil for an unnamed local output.
	Target name.Reference
	// Previous lists the images whose layers may be reused, in order
	// (the target first, when it is read): only their manifests and
	// configs are fetched. When the first is Target it is also what the
	// report compares with (changed, deltas, package diff).
	Previous []name.Reference
	Tags     []string // extra tags, for the report

	Nix     resolve.NixOptions
	TempDir string    // parent of the run's temp dir ("" = os.TempDir())
	Created time.Time // image creation time (SOURCE_DATE_EPOCH); zero = Unix 1
	Jobs    int       // layers built at once; 0 = GOMAXPROCS
	// UploadJobs is how many blobs go up at once while layers build
	// (0 = 4): network-bound, so not the CPU budget.
	UploadJobs int
	Log        io.Writer // progress lines (a redacting writer); nil = discard
	// Registry is the run's registry client: previous and base images are
	// read through it. Required when Previous is set or the plan has from:.
	Registry *regclient.Client
	// Substituter reads the binary caches the user configured: closure
	// metadata (narinfo) of paths the local store lacks, and the NARs of
	// the layers that must be built. nil: such paths are realised by Nix.
	Substituter *substituter.Client
	// Labels are added to the image config's labels (plan labels win).
	Labels map[string]string
	// Annotations are set on the image manifest.
	Annotations map[string]string
	// Metadata are defaults for both the config's labels and the
	// manifest's annotations (the action's org.opencontainers.image.*
	// keys from the GitHub context). Labels, Annotations and the plan's
	// labels override them; see imageMetadata.
	Metadata map[string]string
	// Phase, when set, is called as each phase starts.
	Phase func(Phase)
	// Progress, when set, reports bytes read while layers build and sent
	// while they upload, and times the phases.
	Progress *progress.Reporter
	// StreamLayers writes each built layer straight into its upload, with
	// no temp file, when the publisher takes layers early (a registry):
	// the bytes are produced as the upload reads them (a chunked upload
	// with the digest at the end) and produced again for a retry. A layer
	// the registry already has is uploaded again (its digest is unknown
	// until written), and each build holds an upload slot while it runs.
	StreamLayers bool
	// Shard, when split (N > 1), builds and publishes only the layers
	// layering.AssignShards gives part I: the image holds those layers
	// (with their keys), so a later build of the whole plan given every
	// part's image as Previous reuses each layer and writes the same
	// image as an unsplit build.
	Shard layering.Shard
	// Format is how new layers are compressed (zero: layer.DefaultFormat,
	// gzip). It enters every key: a previous image's layers are reused
	// only when they were written in the same format.
	Format layer.Format
}

// logger writes progress lines; concurrent layer builds share it.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(w io.Writer) *logger { return &logger{w: w} }

func (l *logger) printf(format string, args ...any) {
	if l == nil || l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}
