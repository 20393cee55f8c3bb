package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/multiarch"
	"github.com/org/nix-layer-action/internal/request"
)

// mergeCmd is `merge`: the per-platform images of a build matrix, each
// pushed by digest, become one OCI image index at a tag.
type mergeCmd struct {
	Env
	image       string
	tags        listFlag
	annotations listFlag
	registry    registryFlags
}

func (c *mergeCmd) Name() string { return "merge" }
func (c *mergeCmd) Synopsis() string {
	return "make one multi-platform image index of per-platform digests and tag it"
}

func (c *mergeCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("merge", c.Stderr,
		"usage: nix-layer-action merge --image REF:TAG [flags] DIGEST...",
		"",
		"Creates an OCI image index over the images DIGEST... (each pushed by",
		"`build --push-by-digest`, one per platform, to REF's repository) and points",
		"REF's tag (and every --tag) at it. Reads only manifests and configs. Merging",
		"the same digests again writes nothing. The index carries the OCI",
		"annotations all images share (description, source, …) and any --annotation.")
	fs.StringVar(&c.image, "image", "", "tag to point at the index, e.g. ghcr.io/acme/app:latest (required)")
	fs.Var(&c.tags, "tag", "extra tag in the same repository (repeatable)")
	fs.Var(&c.annotations, "annotation", "index annotation KEY=VALUE (repeatable)")
	c.registry.add(fs.FlagSet)
	help, digests, err := parseFlagsArgs(fs, args, c.Stderr)
	if help || err != nil {
		return err
	}
	tag, err := tagFlag("merge", c.image)
	if err != nil {
		return err
	}
	hashes, err := digestArgs("merge", tag.Context(), digests)
	if err != nil {
		return err
	}
	annots, err := keyValues("merge: --annotation", c.annotations)
	if err != nil {
		return err
	}
	s, err := c.newSession(c.registry)
	if err != nil {
		return err
	}
	res, err := multiarch.Merge(ctx, tag.Context(), hashes,
		multiarch.WithRemoteOptions(s.client.Remote(ctx)...),
		multiarch.WithTags(append([]string{tag.TagStr()}, c.tags...)...),
		multiarch.WithAnnotations(annots),
		multiarch.WithLogger(s.logf))
	if err != nil {
		return s.close(err)
	}
	for _, ch := range res.Children {
		s.logf("  %-14s %s", ch.Platform.String(), ch.Digest)
	}
	if len(res.Pushed) == 0 {
		s.logf("%s already holds this index", tag)
	}
	_, err = fmt.Fprintf(c.Stdout, "%s@%s\n", tag.Context(), res.Digest)
	return s.close(err)
}

// tagCmd is `tag`: move a tag onto an image already pushed by digest (after
// it passed a smoke test).
type tagCmd struct {
	Env
	image    string
	registry registryFlags
}

func (c *tagCmd) Name() string { return "tag" }
func (c *tagCmd) Synopsis() string {
	return "point a tag at an image or index already pushed by digest"
}

func (c *tagCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("tag", c.Stderr,
		"usage: nix-layer-action tag --image REF:TAG DIGEST",
		"",
		"Points REF's tag at DIGEST, an image or index in REF's repository (pushed by",
		"`build --push-by-digest` or `merge`), copying its manifest bytes exactly. Does",
		"nothing when the tag already holds it.")
	fs.StringVar(&c.image, "image", "", "tag to move, e.g. ghcr.io/acme/app:latest (required)")
	c.registry.add(fs.FlagSet)
	help, digests, err := parseFlagsArgs(fs, args, c.Stderr)
	if help || err != nil {
		return err
	}
	tag, err := tagFlag("tag", c.image)
	if err != nil {
		return err
	}
	if len(digests) != 1 {
		return fmt.Errorf("tag: want exactly one DIGEST, got %d", len(digests))
	}
	hashes, err := digestArgs("tag", tag.Context(), digests)
	if err != nil {
		return err
	}
	s, err := c.newSession(c.registry)
	if err != nil {
		return err
	}
	moved, err := multiarch.Tag(ctx, tag, hashes[0],
		multiarch.WithRemoteOptions(s.client.Remote(ctx)...),
		multiarch.WithLogger(s.logf))
	if err != nil {
		return s.close(err)
	}
	if !moved {
		s.logf("%s already holds %s", tag, hashes[0])
	}
	_, err = fmt.Fprintf(c.Stdout, "%s@%s\n", tag.Context(), hashes[0])
	return s.close(err)
}

// tagFlag parses --image as a tag (not a digest).
func tagFlag(cmd, s string) (name.Tag, error) {
	if s == "" {
		return name.Tag{}, fmt.Errorf("%s: --image is required", cmd)
	}
	tag, err := name.NewTag(s)
	if err != nil || strings.Contains(s, "@") {
		return name.Tag{}, fmt.Errorf("%s: --image %q: want a tag like ghcr.io/acme/app:latest", cmd, s)
	}
	return tag, nil
}

// digestArgs parses digests given as sha256:… or REPO@sha256:… (REPO must
// be the image's repository: an index can only refer to manifests in its
// own repository).
func digestArgs(cmd string, repo name.Repository, args []string) ([]v1.Hash, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%s: no DIGEST given (the digest output of each build --push-by-digest)", cmd)
	}
	var out []v1.Hash
	for _, a := range args {
		// An action input may hold several digests on one line or many.
		for _, f := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			h, err := parseDigest(repo, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cmd, err)
			}
			out = append(out, h)
		}
	}
	return out, nil
}

func parseDigest(repo name.Repository, s string) (v1.Hash, error) {
	if r, d, ok := strings.Cut(s, "@"); ok {
		ref, err := name.NewDigest(s)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("digest %q: %w", s, err)
		}
		if ref.Context().Name() != repo.Name() {
			return v1.Hash{}, fmt.Errorf("digest %q is in %s, not %s: an index can only list images of its own repository", s, r, repo)
		}
		s = d
	}
	h, err := v1.NewHash(s)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("digest %q: want sha256:<64 hex digits>", s)
	}
	return h, nil
}

// keyValues parses KEY=VALUE flags.
func keyValues(what string, kvs []string) (map[string]string, error) {
	m, err := request.KeyValues(kvs)
	var kv *request.KeyValueError
	if errors.As(err, &kv) {
		return nil, fmt.Errorf("%s %q: want KEY=VALUE", what, kv.Item)
	}
	return m, err
}
