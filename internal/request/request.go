// Package request is the front door of a build: the command line's flags
// and the action's inputs both become one Request, each value parsed once
// by the parser that owns it (KeyValues and SourceDateEpoch here; formats,
// shards and systems in their packages). internal/cli's prepare turns a
// Request into pipeline options and a publisher for build and the action
// alike, and into the Nix options plan and diff resolve with.
package request

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/secrets"
)

// Request is one run as the user asked for it, from flags or action
// inputs, its values parsed.
type Request struct {
	PlanFile string // absolute when GITHUB_WORKSPACE is set (action)
	// NixBin is the nix command to run ("" = "nix").
	NixBin string
	// NixEnv is extra environment for Nix (the action's NIX_CONFIG with
	// its nix-conf input appended).
	NixEnv []string
	// System is the Nix system to build for ("" = the plan's, else Nix's).
	System string
	// NoBuild leaves unbuilt what no store or cache has (plan --no-build).
	NoBuild bool
	// Format is how new layers are compressed (gzip, the default, zstd
	// or zstd:chunked).
	Format layer.Format

	Image string
	// Output is where the image goes (zero: a registry, at Image).
	Output    publish.Output
	Tags      []string
	Push      bool
	CacheFrom []string
	// PushByDigest pushes the image by digest without moving any tag.
	PushByDigest bool
	// Shard, when split, builds and pushes by digest only part I of N of
	// the layers; PushByDigest is then set too.
	Shard layering.Shard
	// LayerFiles writes each built layer to a temp file before its upload
	// (the default); false writes it straight into its upload.
	LayerFiles bool
	TempDir    string // parent of the run's temp dir ("" = the system's)
	Jobs       int    // layers built at once (0 = CPUs)
	UploadJobs int    // blobs uploaded at once (0 = 4)

	Labels      map[string]string
	Annotations map[string]string
	// Metadata are OCI annotations from the GitHub context (source,
	// revision, created, …), defaults for both the manifest's annotations
	// and the config's labels.
	Metadata map[string]string
	// SourceDateEpoch is SOURCE_DATE_EPOCH, parsed (zero when unset): the
	// image's created time.
	SourceDateEpoch time.Time
	// Created is the commit's time (the action), the image's created time
	// when SOURCE_DATE_EPOCH is unset (zero when unknown: Unix 1).
	Created time.Time
	// SBOMPath is where the CycloneDX SBOM is written after a successful
	// build ("" = none).
	SBOMPath string

	// GitHubToken and NixConf are the action's github-token and nix-conf
	// inputs.
	GitHubToken string
	NixConf     string
	// Phase, when set, is called as each phase starts (the action opens
	// a log group for it).
	Phase func(name string)
	// Debug logs every registry request (the action: RUNNER_DEBUG=1).
	Debug bool
	// Terminal says the log is a terminal (a live progress line) rather
	// than a log file (a line every few seconds).
	Terminal bool
	// Log is the run's redacting log; every progress line goes here.
	Log io.Writer
	// Secrets are the run's secrets; the builder adds what it learns
	// (registry credentials).
	Secrets *secrets.Set
}

// KeyValueError is an item of a KEY=VALUE list without a key or '='.
type KeyValueError struct {
	Index int    // 0-based
	Item  string // as written
}

func (e *KeyValueError) Error() string { return fmt.Sprintf("%q is not KEY=VALUE", e.Item) }

// KeyValues parses KEY=VALUE items (labels, annotations) the one way both
// doors take them: key and value are trimmed of surrounding white space,
// the key must not be empty, a later key wins. nil for no items.
func KeyValues(items []string) (map[string]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(items))
	for i, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, &KeyValueError{Index: i, Item: it}
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, nil
}

// MaxEpoch is 9999-12-31T23:59:59Z: RFC 3339 (the image config's time
// format) has four-digit years.
const MaxEpoch = 253402300799

// SourceDateEpoch parses SOURCE_DATE_EPOCH, the same for both doors: ""
// is the zero time (unset), anything but a number of seconds from 0 to
// MaxEpoch an error.
func SourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > MaxEpoch {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds from 0 to %d (the end of year 9999, the last an image config can hold)", v, MaxEpoch)
	}
	return time.Unix(n, 0).UTC(), nil
}
