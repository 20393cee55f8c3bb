package hostile

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What nix-layer-action writes, repeated here on purpose (see the package doc).
const (
	AnnotationKey    = "org.nix-layer-action.key"
	AnnotationLayer  = "org.nix-layer-action.layer"
	CreatedByPrefix  = "nix-layer-action layer "
	LabelPlanVersion = "org.nix-layer-action.plan-version"
	// MediaTypeForeignLayer is a layer media type nobody writes.
	MediaTypeForeignLayer = "application/vnd.example.hostile.layer.v1.tar+gzip"
	// ForeignCreatedBy is the created_by of history written by "another tool".
	ForeignCreatedBy = "/bin/sh -c #(nop) ADD file:hostile in / # nix-layer-action layer"
)

// Forgery is a way a foreign image differs from one nix-layer-action would
// write for the same layers. Layer-level forgeries apply to the layers
// ForeignSpec.Forge names; image-level ones (HistoryCount, DiffIDCount) to
// the whole image.
type Forgery string

// Forgeries.
const (
	// Faithful is no forgery: the image nix-layer-action would write (a
	// control: the product may reuse its layers).
	Faithful Forgery = "faithful"
	// NoComment keeps our created_by and key annotation but no comment.
	NoComment Forgery = "no-comment"
	// TruncatedPaths records half the paths with "truncated": true.
	TruncatedPaths Forgery = "truncated-paths"
	// NullPaths records "paths": null.
	NullPaths Forgery = "null-paths"
	// EmptyPaths records "paths": [].
	EmptyPaths Forgery = "empty-paths"
	// OtherPaths records (and holds) a different path list under the same key.
	OtherPaths Forgery = "other-paths"
	// ForeignHistory carries our comment JSON under another tool's created_by.
	ForeignHistory Forgery = "foreign-history"
	// HistoryCount adds a history entry, so history and layers do not align.
	HistoryCount Forgery = "history-count"
	// DiffIDCount adds a config diffID, so manifest and config disagree on
	// the layer count.
	DiffIDCount Forgery = "diffid-count"
	// ZstdMediaType stores the layer zstd-compressed as tar+zstd.
	ZstdMediaType Forgery = "zstd-media-type"
	// ForeignMediaType describes the (gzip) layer as MediaTypeForeignLayer.
	ForeignMediaType Forgery = "foreign-media-type"
	// SizeMismatch makes the descriptor's size 1024 bytes more than the blob's.
	SizeMismatch Forgery = "size-mismatch"
	// DiffIDMismatch puts a diffID in the config that is not the layer's.
	DiffIDMismatch Forgery = "diffid-mismatch"
	// LyingBlob keeps key, name and paths right but stores other (valid
	// gzip tar) content. Manifest and config are exactly what the product
	// writes, so without downloading the blob it cannot tell: a test of
	// this shape documents the trust boundary, it does not expect a rebuild.
	LyingBlob Forgery = "lying-blob"
)

// Forgeries returns every forgery but Faithful, for table tests.
func Forgeries() []Forgery {
	return []Forgery{NoComment, TruncatedPaths, NullPaths, EmptyPaths, OtherPaths, ForeignHistory,
		HistoryCount, DiffIDCount, ZstdMediaType, ForeignMediaType, SizeMismatch, DiffIDMismatch, LyingBlob}
}

// imageLevel reports whether f changes the image rather than chosen layers.
func (f Forgery) imageLevel() bool { return f == HistoryCount || f == DiffIDCount }

// PathSize is a store path and its NAR size, as in our history comments.
type PathSize struct {
	Path    string `json:"path"`
	NarSize int64  `json:"narSize"`
}

// LayerSpec is one layer to forge, as the product's plan or report names it.
type LayerSpec struct {
	Name  string
	Key   string // "sha256:<64 hex>"
	Paths []PathSize
}

// ForeignSpec says what PushForeign pushes where.
type ForeignSpec struct {
	Registry           string // base URL, "http://127.0.0.1:PORT"
	Repo, Tag          string
	Username, Password string // basic auth, optional
	Layers             []LayerSpec
	Forgery            Forgery
	// Forge lists the indexes of the layers a layer-level forgery applies
	// to; empty means every layer.
	Forge []int
}

// Foreign is what PushForeign pushed.
type Foreign struct {
	Ref      string // "HOST/repo:tag"
	Digest   string // manifest digest
	Manifest []byte // manifest as pushed
	Config   []byte // config blob as pushed
	Forgery  Forgery
	Layers   []ForeignLayer
}

// ForeignLayer is one pushed layer.
type ForeignLayer struct {
	Name, Key string
	Forged    bool   // a layer-level forgery was applied to it
	Digest    string // blob digest (what the descriptor names)
	Size      int64  // real blob size
	DiffID    string // real uncompressed digest
	// As written in the manifest and config (may disagree with the above).
	MediaType      string
	DescriptorSize int64
	ConfigDiffID   string
	// Comment is the history comment ("" when none); Paths the paths it records.
	Comment string
	Paths   []PathSize
	// Content lists the tar members of the blob.
	Content []string
}

// PushForeign builds the foreign image spec describes and pushes it over
// plain HTTP; the test fails if the registry refuses it.
func PushForeign(t testing.TB, spec ForeignSpec) *Foreign {
	t.Helper()
	f, err := pushForeign(spec)
	if err != nil {
		t.Fatalf("hostile: push foreign %s image: %v", spec.Forgery, err)
	}
	return f
}

func pushForeign(spec ForeignSpec) (*Foreign, error) {
	if spec.Forgery == "" || len(spec.Layers) == 0 {
		return nil, fmt.Errorf("need a forgery and at least one layer")
	}
	img, err := forgeImage(spec)
	if err != nil {
		return nil, err
	}
	p, err := newPusher(spec.Registry, spec.Repo, spec.Username, spec.Password)
	if err != nil {
		return nil, err
	}
	defer p.close()
	for _, b := range append(img.blobs, img.out.Config) {
		if err := p.blob(b); err != nil {
			return nil, err
		}
	}
	if img.out.Digest, err = p.manifest(spec.Tag, MediaTypeOCIManifest, img.out.Manifest); err != nil {
		return nil, err
	}
	img.out.Ref = p.base.Host + "/" + spec.Repo + ":" + spec.Tag
	return &img.out, nil
}

// forgedImage is a built foreign image with its layer blobs.
type forgedImage struct {
	out   Foreign
	blobs [][]byte
}

// forgeImage builds manifest, config and blobs.
func forgeImage(spec ForeignSpec) (*forgedImage, error) {
	epoch := v1.Time{Time: time.Unix(1, 0).UTC()}
	img := &forgedImage{out: Foreign{Forgery: spec.Forgery}}
	cf := v1.ConfigFile{Architecture: "amd64", OS: "linux", Created: epoch,
		Config: v1.Config{Labels: map[string]string{LabelPlanVersion: "1"}},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for i, ls := range spec.Layers {
		forged := !spec.Forgery.imageLevel() && spec.Forgery != Faithful && (len(spec.Forge) == 0 || slices.Contains(spec.Forge, i))
		lb, err := forgeLayer(ls, spec.Forgery, forged)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, ls.Name, err)
		}
		lb.history.Created = epoch
		img.blobs = append(img.blobs, lb.blob)
		img.out.Layers = append(img.out.Layers, lb.out)
		m.Layers = append(m.Layers, lb.desc)
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, lb.configDiffID)
		cf.History = append(cf.History, lb.history)
	}
	if err := forgeImageLevel(&cf, spec.Forgery, epoch); err != nil {
		return nil, err
	}
	var err error
	if img.out.Config, err = json.Marshal(cf); err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(img.out.Config)), Digest: mustHash(digestOf(img.out.Config))}
	if img.out.Manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return img, nil
}

// forgeImageLevel applies HistoryCount and DiffIDCount to the config.
func forgeImageLevel(cf *v1.ConfigFile, f Forgery, epoch v1.Time) error {
	switch f {
	case HistoryCount:
		comment, err := commentJSON(LayerSpec{Name: "phantom", Key: "sha256:" + strings.Repeat("0", 64)}, json.RawMessage("[]"), false, 0)
		if err != nil {
			return err
		}
		cf.History = append(cf.History, v1.History{Created: epoch, CreatedBy: CreatedByPrefix + "phantom", Comment: comment})
	case DiffIDCount:
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, mustHash(digestOf(make([]byte, 1024))))
	}
	return nil
}

// storeEntries lists the tar members holding paths: the store directories and
// one file in each naming the layer.
func storeEntries(layerName string, paths []PathSize) []tarEntry {
	entries := []tarEntry{{Name: "nix/", Dir: true}, {Name: "nix/store/", Dir: true}}
	for _, p := range paths {
		base := path.Base(p.Path)
		entries = append(entries,
			tarEntry{Name: "nix/store/" + base + "/", Dir: true},
			tarEntry{Name: "nix/store/" + base + "/hostile-forged", Body: "forged by hostile for layer " + layerName + "\n"})
	}
	return entries
}

// hostilePath is a store path no plan holds.
func hostilePath(what string) string {
	return "/nix/store/" + strings.Repeat("h", 32) + "-hostile-" + what
}

func mustHash(s string) v1.Hash {
	h, err := v1.NewHash(s)
	if err != nil {
		panic(err) // only called on digestOf output
	}
	return h
}

// PathsOf turns store paths as `plan --json` lists them (without per-path
// NAR sizes) into a LayerSpec path list whose NarSize is 0.
func PathsOf(paths ...string) []PathSize {
	out := make([]PathSize, len(paths))
	for i, p := range paths {
		out[i] = PathSize{Path: p}
	}
	return out
}
