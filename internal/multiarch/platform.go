package multiarch

import (
	"bytes"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// platformKey identifies a platform for matching and duplicate detection:
// os/architecture/variant:os.version, with the variant a client assumes
// when none is given filled in (arm64 → v8, arm → v7, amd64 → v1), so
// linux/arm64 and linux/arm64/v8 count as the same platform. Features are
// ignored.
func platformKey(p v1.Platform) string {
	variant := p.Variant
	if variant == "" {
		switch p.Architecture {
		case "arm64":
			variant = "v8"
		case "arm":
			variant = "v7"
		case "amd64":
			variant = "v1"
		}
	}
	return p.OS + "/" + p.Architecture + "/" + variant + ":" + p.OSVersion
}

// FindPlatform returns the descriptor of the image for platform want in
// desc, which may be an image index (its children are matched on the
// platform their descriptors carry) or a single image (matched on its
// config, one more fetch). Only os, architecture, variant and os.version
// are compared, with default variants filled in (see platformKey). When
// nothing matches it returns a *PlatformNotFoundError listing what is
// there — for a per-platform build that means "no previous image".
func FindPlatform(desc *remote.Descriptor, want v1.Platform) (v1.Descriptor, error) {
	if desc == nil {
		return v1.Descriptor{}, &PlatformNotFoundError{Want: want.String()}
	}
	if desc.MediaType.IsIndex() {
		im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("multiarch: parse index %s: %w", desc.Digest, err)
		}
		return findInIndex(im, want)
	}
	if !desc.MediaType.IsImage() {
		return v1.Descriptor{}, &NotImageError{Digest: desc.Digest, MediaType: desc.MediaType}
	}
	img, err := desc.Image()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("multiarch: image %s: %w", desc.Digest, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("multiarch: config of %s: %w", desc.Digest, err)
	}
	have := cf.Platform()
	if have == nil || platformKey(*have) != platformKey(want) {
		nf := &PlatformNotFoundError{Want: want.String()}
		if have != nil {
			nf.Available = []string{have.String()}
		}
		return v1.Descriptor{}, nf
	}
	d := desc.Descriptor
	d.Platform = have
	return d, nil
}

// findInIndex returns the first child of im whose platform matches want.
func findInIndex(im *v1.IndexManifest, want v1.Platform) (v1.Descriptor, error) {
	key := platformKey(want)
	nf := &PlatformNotFoundError{Want: want.String()}
	for _, m := range im.Manifests {
		if m.Platform == nil {
			continue
		}
		if platformKey(*m.Platform) == key {
			return m, nil
		}
		nf.Available = append(nf.Available, m.Platform.String())
	}
	return v1.Descriptor{}, nf
}
