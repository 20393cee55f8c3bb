// Package image assembles OCI images from built layers and reads back the
// layer metadata of a previously pushed image.
//
// Every layer descriptor in the manifest carries the annotations
// AnnotationKey and AnnotationLayer; every layer also gets one config
// history entry whose created_by is "nix-layer-action layer <name>" and
// whose comment is the compact JSON of its LayerMeta. When that JSON would
// exceed MaxCommentBytes the path list is cut short and "truncated": true
// is set, so a huge layer cannot bloat the config blob.
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Manifest layer-descriptor annotations.
const (
	AnnotationKey   = "org.nix-layer-action.key"
	AnnotationLayer = "org.nix-layer-action.layer"
)

// LabelPlanVersion is the config label naming the plan schema version.
const (
	LabelPlanVersion = "org.nix-layer-action.plan-version"
	PlanVersion      = "1"
)

// CreatedByPrefix starts the created_by of every history entry we write.
const CreatedByPrefix = "nix-layer-action layer "

// MaxCommentBytes bounds the JSON of one layer's history comment.
const MaxCommentBytes = 256 << 10

// Epoch is the fixed creation time used when ConfigOptions.Created is zero.
var Epoch = time.Unix(1, 0).UTC()

// Named is a layer together with its metadata.
type Named struct {
	Layer v1.Layer
	Meta  LayerMeta
	// Annotations are more annotations for the layer's descriptor, which
	// its format needs (zstd:chunked: where its table of contents is);
	// ours (AnnotationKey, AnnotationLayer) win over them.
	Annotations map[string]string
}

// LayerMeta is what we record about a layer in the image.
type LayerMeta struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	// Paths is the layer's store paths. Read back from an image, nil means
	// no list was recorded, and an empty non-nil list a layer with no store
	// paths of its own (see RecordsPaths).
	Paths []PathSize `json:"paths"`
	// Truncated is set when Paths was cut short to keep the history
	// comment under MaxCommentBytes.
	Truncated bool `json:"truncated,omitempty"`
	// UncompressedSize is the layer's tar size, so later runs can report it
	// for a reused layer without reading the blob.
	UncompressedSize int64 `json:"uncompressedSize,omitempty"`
	// Digest, Size and DiffID record the blob as built: a later run reuses
	// the layer only when the manifest descriptor and the config's diffID
	// still say the same.
	Digest string `json:"digest,omitempty"`
	Size   int64  `json:"size,omitempty"`
	DiffID string `json:"diffID,omitempty"`
}

// RecordsPaths reports whether m carries a path list, possibly empty.
func (m LayerMeta) RecordsPaths() bool { return m.Paths != nil }

// PathSize is a store path and its NAR size.
type PathSize struct {
	Path    string `json:"path"`
	NarSize int64  `json:"narSize"`
}

// ConfigOptions is the runtime configuration written into the image config.
type ConfigOptions struct {
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
	ExposedPorts         []string // "80", "80/tcp", "53/udp"
	Labels               map[string]string
	Created              time.Time // zero → Epoch
	// Platform is the image's; an empty OS is "linux", an empty
	// architecture keeps the base image's.
	Platform v1.Platform
}

// Assemble builds an image: base (nil = empty OCI image) plus layers in
// order, each with annotations on its manifest descriptor and a history
// entry carrying its LayerMeta, and the config merged onto the base config.
// The result is deterministic for the same inputs.
func Assemble(base v1.Image, layers []Named, cfg ConfigOptions) (v1.Image, error) {
	if base == nil {
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	baseCfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read base image config: %w", err)
	}
	if baseCfg == nil {
		baseCfg = &v1.ConfigFile{}
	}
	created := cfg.Created
	if created.IsZero() {
		created = Epoch
	}
	cf := baseCfg.DeepCopy()
	cf.OS = cfg.Platform.OS
	if cf.OS == "" {
		cf.OS = "linux"
	}
	if cfg.Platform.Architecture != "" {
		cf.Architecture, cf.Variant = cfg.Platform.Architecture, cfg.Platform.Variant
	}
	cf.Created = v1.Time{Time: created.UTC()}
	cf.Config = mergeConfig(baseCfg.Config, cfg)
	// Fields describing how someone else built the base are not ours.
	cf.Container = ""
	cf.DockerVersion = ""
	cf.Author = ""

	img, err := mutate.ConfigFile(base, cf)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}

	adds := make([]mutate.Addendum, 0, len(layers))
	for i, l := range layers {
		if l.Layer == nil {
			return nil, fmt.Errorf("layer %d (%q): nil layer", i, l.Meta.Name)
		}
		comment, err := commentJSON(l.Meta)
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Meta.Name, err)
		}
		annotations := maps.Clone(l.Annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[AnnotationKey] = l.Meta.Key
		annotations[AnnotationLayer] = l.Meta.Name
		add := mutate.Addendum{
			Layer:       l.Layer,
			Annotations: annotations,
			History: v1.History{
				Created:   v1.Time{Time: created.UTC()},
				CreatedBy: CreatedByPrefix + l.Meta.Name,
				Comment:   comment,
			},
		}
		// A reused layer pushed by another tool may carry the Docker media
		// type; the bytes are the same gzip, so describe it the OCI way.
		if mt, err := l.Layer.MediaType(); err == nil && mt == types.DockerLayer {
			add.MediaType = types.OCILayer
		}
		adds = append(adds, add)
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	// Force computation now so errors surface here, not at push time.
	if _, err := img.Digest(); err != nil {
		return nil, fmt.Errorf("compute image manifest: %w", err)
	}
	return img, nil
}

// commentJSON marshals m compactly, truncating Paths so the result stays
// under MaxCommentBytes.
func commentJSON(m LayerMeta) (string, error) {
	if m.Paths == nil {
		m.Paths = []PathSize{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("marshal layer meta: %w", err)
	}
	if len(b) <= MaxCommentBytes {
		return string(b), nil
	}
	// Binary search the largest prefix of Paths that fits.
	full := m.Paths
	m.Truncated = true
	lo, hi := 0, len(full) // invariant: lo fits (0 paths always fits unless name/key are huge)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		m.Paths = full[:mid]
		b, err := json.Marshal(m)
		if err != nil {
			return "", fmt.Errorf("marshal layer meta: %w", err)
		}
		if len(b) <= MaxCommentBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	m.Paths = full[:lo]
	b, err = json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("marshal layer meta: %w", err)
	}
	if len(b) > MaxCommentBytes {
		return "", errors.New("layer name and key alone exceed the history comment limit")
	}
	return string(b), nil
}

// mergeConfig lays the plan's config over the base image's.
func mergeConfig(base v1.Config, cfg ConfigOptions) v1.Config {
	out := v1.Config{
		Entrypoint: base.Entrypoint,
		Cmd:        base.Cmd,
		WorkingDir: base.WorkingDir,
		User:       base.User,
		Env:        mergeEnv(base.Env, cfg.Env),
	}
	if len(cfg.Entrypoint) > 0 {
		out.Entrypoint = append([]string(nil), cfg.Entrypoint...)
		// Docker semantics: a new entrypoint resets the base's cmd.
		if len(cfg.Cmd) == 0 {
			out.Cmd = nil
		}
	}
	if len(cfg.Cmd) > 0 {
		out.Cmd = append([]string(nil), cfg.Cmd...)
	}
	if cfg.WorkingDir != "" {
		out.WorkingDir = cfg.WorkingDir
	}
	if cfg.User != "" {
		out.User = cfg.User
	}
	if len(base.ExposedPorts) > 0 || len(cfg.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range base.ExposedPorts {
			out.ExposedPorts[p] = struct{}{}
		}
		for _, p := range cfg.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			out.ExposedPorts[p] = struct{}{}
		}
	}
	labels := map[string]string{}
	for k, v := range base.Labels {
		labels[k] = v
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	labels[LabelPlanVersion] = PlanVersion
	out.Labels = labels
	// Keep base volumes, stop signal, healthcheck and shell: they describe the base's runtime.
	out.Volumes = base.Volumes
	out.StopSignal = base.StopSignal
	out.Healthcheck = base.Healthcheck
	out.Shell = base.Shell
	return out
}

// mergeEnv keeps the base environment, overrides variables the plan sets
// and joins PATH as plan:base. Order: base variables in base order, then
// new plan variables in plan order.
func mergeEnv(base, plan []string) []string {
	if len(base) == 0 && len(plan) == 0 {
		return nil
	}
	split := func(kv string) (string, string) {
		k, v, _ := strings.Cut(kv, "=")
		return k, v
	}
	planVals := map[string]string{}
	for _, kv := range plan {
		k, v := split(kv)
		planVals[k] = v
	}
	out := make([]string, 0, len(base)+len(plan))
	seen := map[string]bool{}
	for _, kv := range base {
		k, v := split(kv)
		if seen[k] {
			continue
		}
		seen[k] = true
		if pv, ok := planVals[k]; ok {
			if k == "PATH" && v != "" && pv != "" {
				v = pv + ":" + v
			} else {
				v = pv
			}
		}
		out = append(out, k+"="+v)
	}
	for _, kv := range plan {
		k, _ := split(kv)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k+"="+planVals[k])
	}
	return out
}

// PlatformFromSystem maps a Nix system ("x86_64-linux") to the OCI
// platform of an image of its packages (linux/amd64; armv7l-linux is
// linux/arm/v7).
func PlatformFromSystem(system string) (v1.Platform, error) {
	arch, osName, ok := strings.Cut(system, "-")
	if !ok || osName != "linux" {
		return v1.Platform{}, fmt.Errorf("unsupported Nix system %q: only <arch>-linux systems can be container images", system)
	}
	if p, ok := systemPlatforms[arch]; ok {
		return p, nil
	}
	known := make([]string, 0, len(systemPlatforms))
	for k := range systemPlatforms {
		known = append(known, k+"-linux")
	}
	sort.Strings(known)
	return v1.Platform{}, fmt.Errorf("unsupported Nix system %q (known: %s)", system, strings.Join(known, ", "))
}

// systemPlatforms maps a Nix system's CPU to its OCI platform.
var systemPlatforms = map[string]v1.Platform{
	"x86_64":      {OS: "linux", Architecture: "amd64"},
	"aarch64":     {OS: "linux", Architecture: "arm64"},
	"i686":        {OS: "linux", Architecture: "386"},
	"armv7l":      {OS: "linux", Architecture: "arm", Variant: "v7"},
	"armv6l":      {OS: "linux", Architecture: "arm", Variant: "v6"},
	"powerpc64le": {OS: "linux", Architecture: "ppc64le"},
	"riscv64":     {OS: "linux", Architecture: "riscv64"},
	"s390x":       {OS: "linux", Architecture: "s390x"},
}
