package multiarch

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/org/nix-layer-action/internal/regclient"
)

// push writes res.Manifest to every tag (or by digest without tags),
// skipping references that already hold res.Digest.
func (c *config) push(repo name.Repository, res *Result, ropts []remote.Option) error {
	targets := make([]name.Reference, 0, len(c.tags))
	for _, t := range c.tags {
		targets = append(targets, repo.Tag(t))
	}
	if len(targets) == 0 {
		targets = append(targets, repo.Digest(res.Digest.String()))
	}
	for _, ref := range targets {
		same, err := holds(ref, res.Digest, ropts)
		if err != nil {
			return err
		}
		if same {
			c.log("multiarch: %s already is %s", ref, res.Digest)
			res.Unchanged = append(res.Unchanged, ref.String())
			continue
		}
		if err := remote.Put(ref, rawManifest{raw: res.Manifest, mt: types.OCIImageIndex}, ropts...); err != nil {
			return fmt.Errorf("multiarch: push index to %s: %w", ref, err)
		}
		c.log("multiarch: pushed index %s to %s", res.Digest, ref)
		res.Pushed = append(res.Pushed, ref.String())
	}
	return nil
}

// holds reports whether ref already resolves to digest (one HEAD). A
// missing tag, repository or manifest is "no"; so is a 403, which some
// registries answer for a manifest that does not exist yet.
func holds(ref name.Reference, digest v1.Hash, ropts []remote.Option) (bool, error) {
	d, err := remote.Head(ref, ropts...)
	if err == nil {
		return d.Digest == digest, nil
	}
	if isAbsent(err) {
		return false, nil
	}
	return false, fmt.Errorf("multiarch: check %s: %w", ref, err)
}

// isAbsent reports an answer meaning "nothing there (for us)": not found,
// or denied (GHCR answers 403 for a repository that does not exist yet).
func isAbsent(err error) bool { return regclient.IsNotFound(err) || regclient.IsDenied(err) }

// Tag points tag at digest, an image or index already in tag's
// repository, so a digest can be pushed and smoke-tested before any tag
// moves. It does nothing when the tag already holds digest, and reports
// whether it moved the tag. Only the remote options and logger of opts
// apply.
func Tag(ctx context.Context, tag name.Tag, digest v1.Hash, opts ...Option) (bool, error) {
	c, err := newConfig(opts)
	if err != nil {
		return false, err
	}
	ropts := c.remoteOptions(ctx)
	same, err := holds(tag, digest, ropts)
	if err != nil {
		return false, err
	}
	if same {
		c.log("multiarch: %s already is %s", tag, digest)
		return false, nil
	}
	src := tag.Context().Digest(digest.String())
	desc, err := remote.Get(src, ropts...)
	if err != nil {
		return false, fmt.Errorf("multiarch: tag %s: read %s: %w", tag, src, err)
	}
	if err := remote.Put(tag, rawManifest{raw: desc.Manifest, mt: desc.MediaType}, ropts...); err != nil {
		return false, fmt.Errorf("multiarch: tag %s → %s: %w", tag, digest, err)
	}
	c.log("multiarch: moved %s to %s", tag, digest)
	return true, nil
}

// rawManifest is any manifest as a remote.Taggable, so re-tagging writes
// the exact bytes fetched (never a re-encoding, never a child or blob).
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

// RawManifest implements remote.Taggable.
func (r rawManifest) RawManifest() ([]byte, error) { return r.raw, nil }

// MediaType gives the Content-Type of the PUT.
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }
