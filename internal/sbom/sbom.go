// Package sbom describes the Nix closure of an image as a CycloneDX 1.6
// JSON software bill of materials.
//
// Every store path in the closure of the image's roots becomes one
// component:
//
//   - bom-ref: the store path;
//   - name, version: the store path name split like builtins.parseDrvName,
//     with a multi-output suffix ("-dev", "-lib", "-bin", "-man", …; see
//     nixpath.SplitOutput) moved from the version into the "nix:output" property
//     and the purl's output qualifier, so glibc-2.39-52-bin is glibc
//     2.39-52, output bin. A name without a version keeps any suffix;
//   - purl: pkg:nix/<name>@<version>[?output=<output>] (see nixPURL for
//     why this form);
//   - hashes: the NAR hash as SHA-256 hex (the hash of the store path's
//     NAR serialisation, the digest Nix itself verifies);
//   - properties: nix:store_path, nix:nar_size and, when present,
//     nix:output.
//
// Dependencies are the store paths' references (self-references
// dropped); the image, the BOM's metadata component, depends on the
// roots. Components, dependencies, dependsOn lists and properties are
// sorted, and the timestamp comes from Options, so the same input gives
// the same bytes.
package sbom

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// SpecVersion is the CycloneDX specification version written.
const SpecVersion = cdx.SpecVersion1_6

// schemaURL is the $schema written for SpecVersion.
const schemaURL = "http://cyclonedx.org/schema/bom-1.6.schema.json"

// ToolName names this tool in the BOM metadata.
const ToolName = "nix-layer-action"

// Property names written on components.
const (
	// PropStorePath holds the component's store path.
	PropStorePath = "nix:store_path"
	// PropNarSize holds the NAR size in bytes, in decimal.
	PropNarSize = "nix:nar_size"
	// PropOutput holds the multi-output suffix, when there is one.
	PropOutput = "nix:output"
)

// Graph is the part of *closure.Graph the SBOM needs.
type Graph interface {
	Info(path string) (closure.PathInfo, bool)
	Closure(roots ...string) ([]string, error)
}

// Options describes the image the SBOM is about.
type Options struct {
	// ImageName is the image repository, e.g. "ghcr.io/org/app" (required).
	ImageName string
	// ImageVersion is a human version for the image, e.g. its tag.
	ImageVersion string
	// ImageDigest is the manifest digest "sha256:<64 hex>", when known.
	// With it the image component gets a pkg:oci purl and a hash.
	ImageDigest string
	// Architecture is the image's architecture (pkg:oci "arch" qualifier).
	Architecture string
	// Timestamp is written as metadata.timestamp (UTC, seconds). Zero
	// leaves the timestamp out; pass a fixed time (SOURCE_DATE_EPOCH, the
	// image's created time) to keep the output reproducible.
	Timestamp time.Time
	// ToolVersion is nix-layer-action's version, written on the tool.
	ToolVersion string
	// SerialNumber is an optional "urn:uuid:…" serial number. It is left
	// out by default: CycloneDX asks for a fresh one per BOM, which would
	// make identical inputs give different bytes.
	SerialNumber string
}

// OptionsError reports invalid Options.
type OptionsError struct {
	Field, Reason string
}

// Error implements error.
func (e *OptionsError) Error() string {
	return fmt.Sprintf("sbom: option %s: %s", e.Field, e.Reason)
}

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	serialRE = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

func (o Options) validate() error {
	switch {
	case o.ImageName == "":
		return &OptionsError{Field: "ImageName", Reason: "is required"}
	case strings.HasPrefix(o.ImageName, "/"):
		// Store paths are the components' bom-refs; the image's must differ.
		return &OptionsError{Field: "ImageName", Reason: fmt.Sprintf("%q starts with \"/\"", o.ImageName)}
	case o.ImageDigest != "" && !digestRE.MatchString(o.ImageDigest):
		return &OptionsError{Field: "ImageDigest", Reason: fmt.Sprintf("%q is not sha256:<64 lower-case hex>", o.ImageDigest)}
	case o.SerialNumber != "" && !serialRE.MatchString(o.SerialNumber):
		return &OptionsError{Field: "SerialNumber", Reason: fmt.Sprintf("%q is not urn:uuid:<lower-case uuid>", o.SerialNumber)}
	}
	return nil
}

// Generate builds the SBOM of the closure of roots in g. It fails with an
// *OptionsError for bad options, a *closure.UnknownPathError for a root
// not in g, a *nixpath.PathError for a path that is not a store path, and a
// *NarHashError for a NAR hash it cannot read.
func Generate(g Graph, roots []string, opts Options) (*cdx.BOM, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	paths, err := g.Closure(roots...)
	if err != nil {
		return nil, fmt.Errorf("sbom: closure of the image roots: %w", err)
	}
	image := imageComponent(opts)
	comps := make([]cdx.Component, 0, len(paths))
	deps := make([]cdx.Dependency, 0, len(paths)+1)
	deps = append(deps, dependency(image.BOMRef, roots))
	for _, p := range paths {
		info, ok := g.Info(p)
		if !ok {
			return nil, fmt.Errorf("sbom: %w", &closure.UnknownPathError{Path: p})
		}
		c, err := pathComponent(info)
		if err != nil {
			return nil, err
		}
		comps = append(comps, c)
		deps = append(deps, dependency(p, info.References))
	}
	bom := cdx.NewBOM()
	bom.JSONSchema = schemaURL
	bom.SpecVersion = SpecVersion
	bom.SerialNumber = opts.SerialNumber
	bom.Metadata = metadata(opts, image)
	bom.Components = &comps
	bom.Dependencies = &deps
	return bom, nil
}

func metadata(opts Options, image cdx.Component) *cdx.Metadata {
	tool := cdx.Component{Type: cdx.ComponentTypeApplication, Name: ToolName, Version: opts.ToolVersion}
	md := &cdx.Metadata{
		Lifecycles: &[]cdx.Lifecycle{{Phase: cdx.LifecyclePhaseBuild}},
		Tools:      &cdx.ToolsChoice{Components: &[]cdx.Component{tool}},
		Component:  &image,
	}
	if !opts.Timestamp.IsZero() {
		md.Timestamp = opts.Timestamp.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return md
}

// imageComponent is the image as the BOM's subject. Its bom-ref is its
// pkg:oci purl when the digest is known, else the repository name; store
// paths start with "/", so neither can clash with a component.
func imageComponent(opts Options) cdx.Component {
	c := cdx.Component{
		BOMRef:  opts.ImageName,
		Type:    cdx.ComponentTypeContainer,
		Name:    opts.ImageName,
		Version: opts.ImageVersion,
	}
	if opts.ImageDigest == "" {
		return c
	}
	if c.Version == "" {
		c.Version = opts.ImageDigest
	}
	c.PackageURL = ociPURL(opts.ImageName, opts.ImageDigest, opts.ImageVersion, opts.Architecture)
	c.BOMRef = c.PackageURL
	c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: opts.ImageDigest[len("sha256:"):]}}
	return c
}

func pathComponent(info closure.PathInfo) (cdx.Component, error) {
	pn, err := nixpath.ParsePackage(info.Path)
	if err != nil {
		return cdx.Component{}, err
	}
	digest, err := NarHashHex(info.NarHash)
	if err != nil {
		var nerr *NarHashError
		if errors.As(err, &nerr) {
			nerr.Path = info.Path
		}
		return cdx.Component{}, err
	}
	props := []cdx.Property{
		{Name: PropNarSize, Value: strconv.FormatInt(info.NarSize, 10)},
		{Name: PropStorePath, Value: info.Path},
	}
	if pn.Output != "" {
		props = append(props, cdx.Property{Name: PropOutput, Value: pn.Output})
	}
	sort.Slice(props, func(i, j int) bool { return props[i].Name < props[j].Name })
	return cdx.Component{
		BOMRef:     info.Path,
		Type:       cdx.ComponentTypeLibrary,
		Name:       pn.Name,
		Version:    pn.Version,
		PackageURL: nixPURL(pn),
		Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: digest}},
		Properties: &props,
	}, nil
}

// dependency lists ref's sorted, de-duplicated dependencies without ref
// itself; a leaf is written with no dependsOn, as CycloneDX asks.
func dependency(ref string, on []string) cdx.Dependency {
	seen := make(map[string]bool, len(on))
	var out []string
	for _, o := range on {
		if o != ref && !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	d := cdx.Dependency{Ref: ref}
	if len(out) > 0 {
		sort.Strings(out)
		d.Dependencies = &out
	}
	return d
}

// Write encodes bom as indented CycloneDX JSON (HTML characters left
// unescaped, a trailing newline).
func Write(w io.Writer, bom *cdx.BOM) error {
	if bom == nil {
		return errors.New("sbom: Write: nil BOM")
	}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(bom); err != nil {
		return fmt.Errorf("sbom: encode CycloneDX JSON: %w", err)
	}
	return nil
}
