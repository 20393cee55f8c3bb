package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/regclient"
)

// Previous is an image already in the registry, read for layer reuse.
type Previous struct {
	Ref    name.Reference
	Image  v1.Image
	Digest v1.Hash
	// Layers holds one entry per manifest layer, in order. It is empty when
	// the image is inconsistent (manifest and config disagree on the layer
	// count, or the config is unreadable): such an image is never reused.
	Layers []PreviousLayer
	// Unusable says why Layers is empty for an image that exists ("" when usable).
	Unusable string
	// Platform is the one its config names (zero when the config is not read).
	Platform v1.Platform
}

// PreviousLayer is one layer of a previous image.
type PreviousLayer struct {
	// Meta is read from the descriptor annotations and the history
	// comment; it is empty (no Key) when they are missing or malformed.
	Meta LayerMeta
	// Layer is the remote layer (a *remote.MountableLayer): its digest and
	// size come from the manifest, its diffID from the config, and its blob
	// is fetched only if read. remote.Write can mount it across repositories.
	Layer      v1.Layer
	Descriptor v1.Descriptor
	// ConfigDiffID is the layer's diffID as the image's config lists it.
	ConfigDiffID v1.Hash
}

// ByKey returns the first layer whose Meta.Key is key.
func (p *Previous) ByKey(key string) (PreviousLayer, bool) {
	if p == nil || key == "" {
		return PreviousLayer{}, false
	}
	for _, l := range p.Layers {
		if l.Meta.Key == key {
			return l, true
		}
	}
	return PreviousLayer{}, false
}

// LoadPrevious fetches the manifest and config of ref (never layer blobs)
// through the run's registry client. A missing repository or tag yields
// (nil, nil). Whatever the image holds, malformed metadata is ignored
// rather than trusted, and a config larger than regclient.MaxConfigBytes is
// not read.
//
// When ref is an image index, the image read is its child for platform
// (an index without one is an error); an image for another platform is
// Unusable. A zero platform is linux/amd64.
func LoadPrevious(ctx context.Context, c *regclient.Client, ref name.Reference, platform v1.Platform) (*Previous, error) {
	if platform.Architecture == "" {
		platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	img, err := remote.Image(ref, append(c.Remote(ctx), remote.WithPlatform(platform))...)
	if err != nil {
		if regclient.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", ref, err)
	}
	p := &Previous{Ref: ref, Image: img}
	if p.Digest, err = img.Digest(); err != nil {
		return nil, fmt.Errorf("%s: digest: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", ref, err)
	}
	if m.Config.Size > regclient.MaxConfigBytes {
		p.Unusable = fmt.Sprintf("config is %d bytes, more than the %d read", m.Config.Size, regclient.MaxConfigBytes)
		return p, nil
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: fetch config: %w", ref, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		p.Unusable = fmt.Sprintf("config is not valid JSON: %v", err)
		return p, nil
	}
	// A config that names no architecture does not disagree.
	if p.Platform = configPlatform(cf); p.Platform.Architecture != "" && !p.Platform.Satisfies(platform) {
		p.Unusable = fmt.Sprintf("it is an image for %s, not %s", p.Platform.String(), platform.String())
		return p, nil
	}
	metas, why := layerMetas(m, cf)
	if why != "" {
		p.Unusable = why
		return p, nil
	}
	for i, desc := range m.Layers {
		l, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: layer %s: %w", ref, desc.Digest, err)
		}
		p.Layers = append(p.Layers, PreviousLayer{Meta: metas[i], Layer: l, Descriptor: desc, ConfigDiffID: cf.RootFS.DiffIDs[i]})
	}
	return p, nil
}

// configPlatform is the platform an image config says it is for.
func configPlatform(cf *v1.ConfigFile) v1.Platform {
	return v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
}

var keyRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

const maxNameLen = 256

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// layerMetas reads per-layer metadata from a manifest and config that may
// have been written by anyone. It returns one LayerMeta per manifest layer,
// or a reason the image cannot be reused. It never panics.
func layerMetas(m *v1.Manifest, cf *v1.ConfigFile) ([]LayerMeta, string) {
	if m == nil || cf == nil {
		return nil, "missing manifest or config"
	}
	if len(m.Layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Sprintf("manifest has %d layers but config lists %d diffIDs", len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	// History entries that are not empty_layer align with layers — but
	// only when their count matches; otherwise comments cannot be placed.
	var hist []v1.History
	for _, h := range cf.History {
		if !h.EmptyLayer {
			hist = append(hist, h)
		}
	}
	aligned := len(hist) == len(m.Layers)

	out := make([]LayerMeta, len(m.Layers))
	for i, desc := range m.Layers {
		var comment *LayerMeta
		if aligned && strings.HasPrefix(hist[i].CreatedBy, CreatedByPrefix) {
			comment = parseComment(hist[i].Comment)
		}
		out[i] = mergeMeta(desc.Annotations[AnnotationKey], desc.Annotations[AnnotationLayer], comment)
	}
	return out, ""
}

// parseComment decodes a history comment; nil when it is not ours or malformed.
func parseComment(s string) *LayerMeta {
	if s == "" || len(s) > 2*MaxCommentBytes {
		return nil
	}
	var raw struct {
		Name      string          `json:"name"`
		Key       string          `json:"key"`
		Paths     json.RawMessage `json:"paths"`
		Truncated bool            `json:"truncated"`
		USize     int64           `json:"uncompressedSize"`
		Digest    string          `json:"digest"`
		Size      int64           `json:"size"`
		DiffID    string          `json:"diffID"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil
	}
	m := &LayerMeta{Name: raw.Name, Key: raw.Key, Truncated: raw.Truncated}
	if raw.USize > 0 {
		m.UncompressedSize = raw.USize
	}
	if keyRE.MatchString(raw.Digest) && keyRE.MatchString(raw.DiffID) && raw.Size > 0 {
		m.Digest, m.Size, m.DiffID = raw.Digest, raw.Size, raw.DiffID
	}
	var paths []json.RawMessage
	if len(raw.Paths) > 0 && string(raw.Paths) != "null" {
		if err := json.Unmarshal(raw.Paths, &paths); err != nil {
			return nil
		}
		// A recorded list, even an empty one (a root layer with no store
		// paths of its own), is not the same as no list.
		m.Paths = make([]PathSize, 0, len(paths))
	}
	for _, p := range paths {
		var ps PathSize
		if err := json.Unmarshal(p, &ps); err != nil || !nixpath.Valid(ps.Path) || ps.NarSize < 0 {
			// One bad entry makes the list untrustworthy as a whole.
			m.Paths = nil
			m.Truncated = true
			break
		}
		m.Paths = append(m.Paths, ps)
	}
	return m
}

// mergeMeta combines descriptor annotations with the history comment. The
// annotation key wins; the comment only fills in when it agrees with it (or
// when the annotations were lost, e.g. by a tool that rewrote the manifest).
func mergeMeta(annKey, annName string, c *LayerMeta) LayerMeta {
	var m LayerMeta
	switch {
	case keyRE.MatchString(annKey):
		m.Key = annKey
	case annKey == "" && c != nil && keyRE.MatchString(c.Key):
		m.Key = c.Key
	}
	if validName(annName) {
		m.Name = annName
	}
	if c == nil || m.Key == "" || c.Key != m.Key {
		return m
	}
	if m.Name == "" && validName(c.Name) {
		m.Name = c.Name
	}
	m.Paths = c.Paths
	m.Truncated = c.Truncated
	m.UncompressedSize = c.UncompressedSize
	m.Digest, m.Size, m.DiffID = c.Digest, c.Size, c.DiffID
	return m
}
