package hostile

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layerBuild is one forged layer: its blob, descriptor, config entries and
// the report of what was done.
type layerBuild struct {
	blob         []byte
	desc         v1.Descriptor
	configDiffID v1.Hash
	history      v1.History
	out          ForeignLayer
}

// layerPlan is what forgeLayer writes for one layer, after the forgery.
type layerPlan struct {
	recorded  json.RawMessage // the comment's "paths" value
	truncated bool
	content   []tarEntry
	createdBy string
	comment   bool
	mediaType string
}

// planLayer decides what to write for ls under forgery f (when forged).
func planLayer(ls LayerSpec, f Forgery, forged bool) (layerPlan, error) {
	paths := ls.Paths
	p := layerPlan{content: storeEntries(ls.Name, paths), createdBy: CreatedByPrefix + ls.Name, comment: true, mediaType: MediaTypeOCILayer}
	if !forged {
		f = Faithful
	}
	switch f {
	case NoComment:
		p.comment = false
	case TruncatedPaths:
		paths, p.truncated = paths[:len(paths)/2], true
	case NullPaths:
		p.recorded = json.RawMessage("null")
	case EmptyPaths:
		p.recorded = json.RawMessage("[]")
	case OtherPaths:
		paths = append(append([]PathSize(nil), paths[min(1, len(paths)):]...), PathSize{Path: hostilePath("other"), NarSize: 4096})
		p.content = storeEntries(ls.Name, paths)
	case ForeignHistory:
		p.createdBy = ForeignCreatedBy
	case ZstdMediaType:
		p.mediaType = MediaTypeOCILayerZstd
	case ForeignMediaType:
		p.mediaType = MediaTypeForeignLayer
	case LyingBlob:
		lie := "nix/store/" + path.Base(hostilePath("lie"))
		p.content = []tarEntry{{Name: "nix/", Dir: true}, {Name: "nix/store/", Dir: true},
			{Name: lie + "/", Dir: true}, {Name: lie + "/LIE", Body: "this is not " + ls.Name + "\n"}}
	}
	if p.recorded == nil {
		if paths == nil {
			paths = []PathSize{}
		}
		b, err := json.Marshal(paths)
		if err != nil {
			return p, err
		}
		p.recorded = b
	}
	return p, nil
}

// forgeLayer builds one layer of spec ls, applying f when forged.
func forgeLayer(ls LayerSpec, f Forgery, forged bool) (*layerBuild, error) {
	p, err := planLayer(ls, f, forged)
	if err != nil {
		return nil, err
	}
	tarball, err := tarOf(p.content)
	if err != nil {
		return nil, err
	}
	compress := gzipOf
	if p.mediaType == MediaTypeOCILayerZstd {
		compress = zstdOf
	}
	blob, err := compress(tarball)
	if err != nil {
		return nil, err
	}
	lb := &layerBuild{blob: blob, configDiffID: mustHash(digestOf(tarball))}
	lb.desc = v1.Descriptor{MediaType: types.MediaType(p.mediaType), Size: int64(len(blob)), Digest: mustHash(digestOf(blob)),
		Annotations: map[string]string{AnnotationKey: ls.Key, AnnotationLayer: ls.Name}}
	if forged && f == SizeMismatch {
		lb.desc.Size += 1024
	}
	if forged && f == DiffIDMismatch {
		lb.configDiffID = mustHash(digestOf(append(tarball, 0)))
	}
	lb.history = v1.History{CreatedBy: p.createdBy}
	if p.comment {
		if lb.history.Comment, err = commentJSON(ls, p.recorded, p.truncated, int64(len(tarball))); err != nil {
			return nil, err
		}
	}
	lb.out = ForeignLayer{Name: ls.Name, Key: ls.Key, Forged: forged, Digest: lb.desc.Digest.String(), Size: int64(len(blob)),
		DiffID: digestOf(tarball), MediaType: p.mediaType, DescriptorSize: lb.desc.Size, ConfigDiffID: lb.configDiffID.String(),
		Comment: lb.history.Comment, Paths: recordedPaths(p.recorded, p.comment), Content: members(tarball)}
	return lb, nil
}

// commentJSON renders a history comment the way the product does.
func commentJSON(ls LayerSpec, paths json.RawMessage, truncated bool, size int64) (string, error) {
	b, err := json.Marshal(struct {
		Name             string          `json:"name"`
		Key              string          `json:"key"`
		Paths            json.RawMessage `json:"paths"`
		Truncated        bool            `json:"truncated,omitempty"`
		UncompressedSize int64           `json:"uncompressedSize,omitempty"`
	}{ls.Name, ls.Key, paths, truncated, size})
	return string(b), err
}

// recordedPaths decodes a comment's path list (nil for null or no comment).
func recordedPaths(raw json.RawMessage, comment bool) []PathSize {
	var ps []PathSize
	if comment {
		_ = json.Unmarshal(raw, &ps)
	}
	return ps
}

// members lists the member names of a tar archive built by tarOf.
func members(tarball []byte) []string {
	var out []string
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err == io.EOF || err != nil {
			return out
		}
		out = append(out, h.Name)
	}
}
