// Package report renders the result of a build: JSON metadata, a plain text
// table for terminals, a Markdown job summary, a package diff for pull-request
// comments, and the policy gates (max layer size, max growth).
//
// The package is pure: it performs no I/O except writing to the io.Writer it
// is given, and the same Report always renders to the same bytes.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/org/nix-layer-action/internal/bytesize"
)

// Status is what happened to a layer in a build.
type Status string

// Layer statuses.
const (
	StatusPushed  Status = "pushed"  // blob uploaded by this run
	StatusCached  Status = "cached"  // layer reused from the previous image (same key), not rebuilt
	StatusExists  Status = "exists"  // blob already present in the registry
	StatusMounted Status = "mounted" // blob cross-repository mounted
	StatusEmpty   Status = "empty"   // nothing left for the layer; not part of the image
	StatusBuilt   Status = "built"   // built but not pushed (push: false / local output)
	StatusBase    Status = "base"    // a layer of the from: image, not yet published
)

// Report is the result of one build.
type Report struct {
	Image       string  `json:"image"`
	Digest      string  `json:"digest"`
	Changed     bool    `json:"changed"`
	BytesPushed int64   `json:"bytesPushed"`
	Layers      []Layer `json:"layers"`

	Plan           string   `json:"plan,omitempty"`
	Platform       string   `json:"platform,omitempty"` // "linux/arm64"
	Tags           []string `json:"tags,omitempty"`
	Push           bool     `json:"push"`
	ImageSize      int64    `json:"imageSize"`                // sum of compressed layer sizes; 0 = compute from Layers
	CumulativeSize int64    `json:"cumulativeSize,omitempty"` // store (NAR) bytes a cumulative-layer build would ship: every layer its full closure
	DedupSize      int64    `json:"dedupSize,omitempty"`      // store (NAR) bytes this image's layers hold; 0 = sum of UncompressedSize
	PreviousDigest string   `json:"previousDigest,omitempty"`
	PreviousSize   int64    `json:"previousImageSize,omitempty"` // compressed size of the previous image (baseline for max-growth)
	Diff           *Diff    `json:"diff,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	PackageURL     string   `json:"packageURL,omitempty"`
	// SupersededBy is what the tag held right after this run's push when
	// another run had pushed to it in the meantime.
	SupersededBy string `json:"supersededBy,omitempty"`
	// Shard is "I/N" when the run built part I of a build split over N
	// jobs: Layers are that part's only.
	Shard string `json:"shard,omitempty"`
	// PeakTempBytes is the most bytes of layer files the run held in its
	// temp dir at once (a layer's file is removed as soon as its blob is
	// in the registry).
	PeakTempBytes int64 `json:"peakTempBytes"`
	// Fetch is what the run asked of the binary caches.
	Fetch *Fetch `json:"fetch,omitempty"`
}

// Fetch is the binary-cache traffic of a run.
type Fetch struct {
	NarinfoRequests int64 `json:"narinfoRequests"`
	NarinfoBytes    int64 `json:"narinfoBytes"`
	NARRequests     int64 `json:"narRequests"`
	NARWireBytes    int64 `json:"narWireBytes"` // as sent (compressed)
	NARBytes        int64 `json:"narBytes"`     // NAR bytes after decompression
	// ClosureNARBytes is the NAR size of the whole closure: what a run
	// realising everything would have downloaded.
	ClosureNARBytes int64 `json:"closureNarBytes"`
}

// Layer is one layer of the image (or an empty planned layer).
type Layer struct {
	Name             string   `json:"name"`
	Digest           string   `json:"digest"`
	DiffID           string   `json:"diffID"`
	Size             int64    `json:"size"`             // compressed
	UncompressedSize int64    `json:"uncompressedSize"` // tar size
	Paths            []string `json:"paths"`
	Key              string   `json:"key"`
	Status           Status   `json:"status"`
	// NarSize is what the layer holds before it is written: its store
	// paths' NAR sizes plus, for the root layer, its files outside the
	// store; the figure `plan` prints as NAR SIZE.
	NarSize int64 `json:"narSize,omitempty"`
	// Source is where the layer's bytes came from: reused (not built),
	// local store, substituter (NARs streamed from a binary cache) or
	// built (realised by Nix in this run).
	Source string `json:"source,omitempty"`

	Empty     bool       `json:"empty,omitempty"`
	Previous  *PrevLayer `json:"previous,omitempty"` // same-named layer of the previous image, if any
	PathSizes []PathSize `json:"-"`                  // optional NAR sizes of Paths (for the diff)
}

// PrevLayer describes the same-named layer of the previously published image.
type PrevLayer struct {
	Digest string `json:"digest"`
	Key    string `json:"key,omitempty"`
	Size   int64  `json:"size"` // compressed
}

// PathSize is a store path with its NAR size.
type PathSize struct {
	Path    string `json:"path"`
	NarSize int64  `json:"narSize"`
}

// TotalSize returns ImageSize, or the sum of the compressed layer sizes when
// ImageSize is unset.
func (r *Report) TotalSize() int64 {
	if r.ImageSize > 0 {
		return r.ImageSize
	}
	var n int64
	for _, l := range r.Layers {
		if !l.Empty {
			n += l.Size
		}
	}
	return n
}

// Tally is how many of the image's layers ended up in each status.
type Tally struct {
	Layers  int // non-empty layers
	Pushed  int // uploaded by this run
	Cached  int // reused by key, not rebuilt (mounted ones included)
	Mounted int // of Cached: cross-repository mounted
	Exists  int // rebuilt, but the registry had the blob already
	Built   int // built, not pushed (local output, push disabled)
	Base    int // layers of the from: image
}

// Tally counts the non-empty layers by status.
func (r *Report) Tally() Tally {
	var t Tally
	for _, l := range r.Layers {
		if l.Empty || l.Status == StatusEmpty {
			continue
		}
		t.Layers++
		switch l.Status {
		case StatusPushed:
			t.Pushed++
		case StatusCached:
			t.Cached++
		case StatusMounted:
			t.Cached++
			t.Mounted++
		case StatusExists:
			t.Exists++
		case StatusBuilt:
			t.Built++
		case StatusBase:
			t.Base++
		}
	}
	return t
}

// String lists the non-zero counts by the status words of the table and
// the JSON, so the summary and the rows use one vocabulary: "pushed 1,
// cached 2, mounted 1, exists 1".
func (t Tally) String() string {
	var parts []string
	add := func(n int, what Status) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", what, n))
		}
	}
	add(t.Pushed, StatusPushed)
	add(t.Cached-t.Mounted, StatusCached)
	add(t.Mounted, StatusMounted)
	add(t.Exists, StatusExists)
	add(t.Built, StatusBuilt)
	add(t.Base, StatusBase)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Counts returns the number of non-empty layers, how many were uploaded
// (status pushed) and how many were not (cached, exists, mounted): the
// action's layers-pushed and layers-cached outputs. The summaries use
// Tally, which keeps "exists" (rebuilt) apart from "cached" (reused).
func (r *Report) Counts() (layers, pushed, cached int) {
	for _, l := range r.Layers {
		if l.Empty || l.Status == StatusEmpty {
			continue
		}
		layers++
		switch l.Status {
		case StatusPushed:
			pushed++
		case StatusCached, StatusExists, StatusMounted:
			cached++
		}
	}
	return layers, pushed, cached
}

// JSON writes the report as indented JSON. Nil slices are written as [] so
// consumers can rely on the shape.
func (r *Report) JSON(w io.Writer) error {
	c := *r
	c.Layers = make([]Layer, len(r.Layers))
	for i, l := range r.Layers {
		if l.Paths == nil {
			l.Paths = []string{}
		}
		if l.Status == "" && l.Empty {
			l.Status = StatusEmpty
		}
		c.Layers[i] = l
	}
	c.ImageSize = r.TotalSize()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return fmt.Errorf("report: writing JSON: %w", err)
	}
	return nil
}

// Table writes a plain text table for terminals followed by the digest.
func (r *Report) Table(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tNAME\tPATHS\tNAR SIZE\tTAR SIZE\tCOMPRESSED\tSTATUS\t")
	for i, l := range r.Layers {
		// A from: layer's tar size is unknown (its blob is not read): "-".
		status, nar, tarSize, comp := l.Status, sizeOrDash(l.NarSize), sizeOrDash(l.UncompressedSize), bytesize.Format(l.Size)
		if l.Empty || l.Status == StatusEmpty {
			status, nar, tarSize, comp = StatusEmpty, "-", "-", "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t\n", i+1, l.Name, len(l.Paths), nar, tarSize, comp, status)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: writing table: %w", err)
	}
	t := r.Tally()
	fmt.Fprintf(&b, "image size: %s in %s (%s), uploaded %s\n",
		bytesize.Format(r.TotalSize()), plural(t.Layers, "layer"), t, bytesize.Format(r.BytesPushed))
	if r.Shard != "" {
		fmt.Fprintf(&b, "shard: %s of the layers, pushed by digest (a build with every part's digest as cache-from reuses them)\n", r.Shard)
	}
	if r.Image != "" {
		fmt.Fprintf(&b, "image: %s\n", r.Image)
	}
	fmt.Fprintf(&b, "digest: %s\n", r.Digest)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: writing table: %w", err)
	}
	return nil
}

// sizeOrDash formats a size, "-" when unknown (0: a layer of another
// image; no layer's NAR or tar is really empty).
func sizeOrDash(n int64) string {
	if n <= 0 {
		return "-"
	}
	return bytesize.Format(n)
}

// ShortDigest shortens "sha256:<64 hex>" to "sha256:<12 hex>"; other strings
// are returned unchanged.
func ShortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}
