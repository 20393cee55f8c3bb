// Package plan reads and validates layer plans (schema v1).
//
// A plan is a YAML (or JSON, which is YAML) file naming an ordered list of
// layers, bottom first, each with the Nix store paths or installables whose
// closures it should hold. The package runs no Nix and knows nothing of
// OCI: it only checks the plan's shape and resolves relative paths against
// the plan's directory. Every validation problem is reported as one *Error
// carrying the file, line and field path of the first problem in file order.
//
// A plan may also be written in Nix, as a flake output: NixPlan describes
// the one nix eval call that evaluates it, and ParseValue validates the
// resulting JSON with exactly the same rules, its errors naming the
// attribute path instead of a line.
package plan

import (
	"fmt"
	"os"
	"regexp"

	"github.com/org/nix-layer-action/internal/nixpath"
)

// DefaultStoreDir is the Nix store directory used when the plan sets none.
const DefaultStoreDir = nixpath.DefaultStoreDir

// DefaultMaxLayerSize is the plan-wide layer size limit when the plan sets
// no max-layer-size (GHCR's limit is 10 GB per layer).
const DefaultMaxLayerSize int64 = 10_000_000_000

// MaxLayers is the most layers a plan may describe (overlayfs and most
// runtimes cap an image at 127 layers).
const MaxLayers = 127

// RootLayerName is the reserved name of the synthesized root-filesystem
// layer, the last one, which holds whatever the config's store paths and
// the root-filesystem sources still need.
const RootLayerName = "root"

// Plan is a parsed, validated layer plan.
type Plan struct {
	File string // as given to Parse/Load; the label given to ParseValue
	Dir  string // absolute directory of File; for ParseValue, the flake's directory or ""
	Attr string // attribute path of a plan evaluated from Nix (ParseValue); "" for a file

	Version      int
	Layers       []Layer // ordered, bottom first; never contains "root"
	Config       Config
	ClosureGraph string // absolute path or "" (key: closure-graph)
	StoreRoot    string // absolute path or "" (key: store-root)
	StoreDir     string // default "/nix/store" (key: store-dir)

	From         string // base image ref (key: from)
	Root         []Dep  // key: root — contents copied to / in the "root" layer
	Tmp          bool   // key: tmp — /tmp 1777 in the root layer
	Users        []User // key: users
	Perms        []Perm // key: perms (plan level)
	NixDB        bool   // key: nix-db
	MaxLayerSize int64  // key: max-layer-size, default DefaultMaxLayerSize
	// System is the Nix system the plan's packages are for (key: system,
	// e.g. "aarch64-linux"): installables like ".#app" are evaluated as
	// packages.<System>.app. "" = the system Nix runs as.
	System string

	// AllowOutsideWorkspace lets relative flake refs escape the plan
	// directory with "..". Key: allow-outside-workspace.
	AllowOutsideWorkspace bool
}

// DepKind says what a Dep names.
type DepKind int

const (
	// StorePath is an absolute store path, <store-dir>/<hash>-<name>[/sub].
	StorePath DepKind = iota
	// Installable is a flake reference with an attribute, flakeref#attr.
	Installable
)

func (k DepKind) String() string {
	switch k {
	case StorePath:
		return "store path"
	case Installable:
		return "installable"
	}
	return fmt.Sprintf("DepKind(%d)", int(k))
}

// Dep is one entry of a layer's deps (or of the plan's root list).
type Dep struct {
	Raw  string // as written in the plan
	Kind DepKind
	// Value is the store path (<store-dir>/<hash>-<name>, without any
	// subpath) or the installable with a relative flake ref resolved against
	// Plan.Dir (".#a" → "/abs/dir#a"; "nixpkgs#hello" unchanged).
	Value string
	// Sub is the subpath after the store path ("/bin/hello"), or "". Always
	// "" for installables.
	Sub  string
	Line int
}

// Layer is one entry of the plan's layers list.
type Layer struct {
	Name    string
	Line    int
	Deps    []Dep
	MaxSize int64  // key: max-size, 0 = plan default
	Perms   []Perm // key: perms (layer level)
	Auto    *Auto  // key: auto; only on the last entry, which then has no deps
}

// Auto asks for every path not claimed by an earlier layer to be grouped
// into at most MaxLayers layers.
type Auto struct {
	MaxLayers int
	Line      int
}

// User is an account written to /etc/passwd and /etc/group in the root layer.
type User struct {
	Name     string
	UID, GID int
	Home     string
	Line     int
}

// Perm overrides the mode and/or owner of in-image paths matching Regexp.
type Perm struct {
	Path   string         // the regexp source as written
	Regexp *regexp.Regexp // compiled Path
	Mode   *uint32        // permission bits (<= 07777), nil = unchanged
	UID    *int           // nil = unchanged
	GID    *int           // nil = unchanged
	Line   int
}

// Config holds the image config settings of the plan.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string // "KEY=value"
	WorkingDir   string
	User         string
	ExposedPorts []string // as written: "8188/tcp", "53/udp", "80"
	Labels       map[string]string
	Line         int // line of the config key, 0 when absent
	// Args are the entrypoint and cmd items written as {installable,
	// path}; their places in Entrypoint and Cmd hold "" until
	// ResolveArgs.
	Args []ConfigArg
	// Check says what a program or PATH entry the image lacks does
	// (key: check; default CheckWarn).
	Check ConfigCheck

	lines map[string]int // "entrypoint[0]" → line
}

// HasRootLayer reports whether the plan asks for the synthesized "root"
// layer (root contents, /tmp, users or the Nix database).
func (p *Plan) HasRootLayer() bool {
	return len(p.Root) > 0 || p.Tmp || len(p.Users) > 0 || p.NixDB
}

// LayerCount is the most layers the plan can produce before size splits:
// every explicit layer, the auto entry's max-layers and the root layer.
func (p *Plan) LayerCount() int {
	n := 0
	for _, l := range p.Layers {
		if l.Auto != nil {
			n += l.Auto.MaxLayers
		} else {
			n++
		}
	}
	if p.HasRootLayer() {
		n++
	}
	return n
}

// Load reads the plan file at path and parses it.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return Parse(path, data)
}
