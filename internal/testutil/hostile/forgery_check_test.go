package hostile

import (
	"archive/tar"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

// checkForgery checks that the image read back carries exactly forgery.
func checkForgery(t *testing.T, forgery Forgery, r read, spec LayerSpec, f *Foreign) {
	t.Helper()
	fl := f.Layers[1]
	d, h := r.m.Layers[1], r.cf.History[1]
	switch forgery {
	case Faithful:
		if len(r.cf.History) != 2 || len(r.cf.RootFS.DiffIDs) != 2 {
			t.Fatalf("history %d, diffIDs %d", len(r.cf.History), len(r.cf.RootFS.DiffIDs))
		}
	case NoComment:
		if h.Comment != "" || h.CreatedBy != CreatedByPrefix+spec.Name || d.Annotations[AnnotationKey] != spec.Key {
			t.Fatalf("history %+v, annotations %v", h, d.Annotations)
		}
	case TruncatedPaths:
		c := parseTestComment(t, h.Comment)
		if !c.Truncated || c.Paths == nil || !slices.Equal(*c.Paths, spec.Paths[:len(spec.Paths)/2]) {
			t.Fatalf("comment %s", h.Comment)
		}
	case NullPaths, EmptyPaths:
		want := map[Forgery]string{NullPaths: `"paths":null`, EmptyPaths: `"paths":[]`}[forgery]
		if !strings.Contains(h.Comment, want) || parseTestComment(t, h.Comment).Key != spec.Key {
			t.Fatalf("comment %s, want %s", h.Comment, want)
		}
	case OtherPaths:
		c := parseTestComment(t, h.Comment)
		if c.Paths == nil || slices.Equal(*c.Paths, spec.Paths) || !slices.Equal(*c.Paths, fl.Paths) ||
			!slices.Contains(tarNames(t, r, 1), "nix/store/"+strings.Repeat("h", 32)+"-hostile-other/hostile-forged") {
			t.Fatalf("comment %s, content %v", h.Comment, tarNames(t, r, 1))
		}
	case ForeignHistory:
		c := parseTestComment(t, h.Comment)
		if h.CreatedBy != ForeignCreatedBy || strings.HasPrefix(h.CreatedBy, CreatedByPrefix) || c.Key != spec.Key || !slices.Equal(*c.Paths, spec.Paths) {
			t.Fatalf("history %+v", h)
		}
	default:
		checkDescriptorForgery(t, forgery, r, spec, f)
	}
}

// checkDescriptorForgery covers the forgeries of counts, media types,
// sizes, digests and content.
func checkDescriptorForgery(t *testing.T, forgery Forgery, r read, spec LayerSpec, f *Foreign) {
	t.Helper()
	fl := f.Layers[1]
	d := r.m.Layers[1]
	switch forgery {
	case HistoryCount:
		if len(r.cf.History) != 3 || len(r.m.Layers) != 2 || len(r.cf.RootFS.DiffIDs) != 2 {
			t.Fatalf("history %d, layers %d", len(r.cf.History), len(r.m.Layers))
		}
	case DiffIDCount:
		if len(r.cf.RootFS.DiffIDs) != 3 || len(r.m.Layers) != 2 {
			t.Fatalf("diffIDs %d, layers %d", len(r.cf.RootFS.DiffIDs), len(r.m.Layers))
		}
	case ZstdMediaType, ForeignMediaType:
		want := map[Forgery]string{ZstdMediaType: MediaTypeOCILayerZstd, ForeignMediaType: MediaTypeForeignLayer}[forgery]
		blob := compressedBytes(t, r, 1)
		zstdMagic := []byte{0x28, 0xb5, 0x2f, 0xfd}
		if string(d.MediaType) != want || bytes.HasPrefix(blob, zstdMagic) != (forgery == ZstdMediaType) ||
			parseTestComment(t, r.cf.History[1].Comment).Key != spec.Key || d.Annotations[AnnotationKey] != spec.Key {
			t.Fatalf("descriptor %+v, blob starts %x", d, blob[:4])
		}
	case SizeMismatch:
		if d.Size != fl.Size+1024 || fl.DescriptorSize != d.Size {
			t.Fatalf("descriptor size %d, blob %d", d.Size, fl.Size)
		}
		l, _ := r.img.LayerByDigest(d.Digest)
		if err := readDigest(l.Compressed, fl.Digest, fl.Size); err == nil {
			t.Fatal("ggcr read a blob shorter than its descriptor without error")
		}
	case DiffIDMismatch:
		if r.cf.RootFS.DiffIDs[1].String() == fl.DiffID || r.cf.RootFS.DiffIDs[1].String() != fl.ConfigDiffID {
			t.Fatalf("config diffID %s, real %s", r.cf.RootFS.DiffIDs[1], fl.DiffID)
		}
	case LyingBlob:
		// Manifest and config are faithful; only the content lies.
		requireFaithfulLayerMeta(t, r, spec)
		if names := tarNames(t, r, 1); !slices.Contains(names, "nix/store/"+strings.Repeat("h", 32)+"-hostile-lie/LIE") {
			t.Fatalf("content %v", names)
		}
	default:
		t.Fatalf("no check for forgery %q", forgery)
	}
}

// requireFaithfulLayerMeta checks layer 1's descriptor and history are ours.
func requireFaithfulLayerMeta(t *testing.T, r read, spec LayerSpec) {
	t.Helper()
	d, h := r.m.Layers[1], r.cf.History[1]
	c := parseTestComment(t, h.Comment)
	if d.MediaType != MediaTypeOCILayer || d.Annotations[AnnotationKey] != spec.Key || h.CreatedBy != CreatedByPrefix+spec.Name ||
		c.Paths == nil || !slices.Equal(*c.Paths, spec.Paths) {
		t.Fatalf("descriptor %+v, history %+v", d, h)
	}
}

// compressedBytes downloads layer i's blob.
func compressedBytes(t *testing.T, r read, i int) []byte {
	t.Helper()
	l, err := r.img.LayerByDigest(r.m.Layers[i].Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tarNames downloads layer i (gzip) and lists its members.
func tarNames(t *testing.T, r read, i int) []string {
	t.Helper()
	l, err := r.img.LayerByDigest(r.m.Layers[i].Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
