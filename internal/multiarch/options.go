package multiarch

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Logger receives one progress line at a time (printf style).
type Logger func(format string, args ...any)

// Option configures Merge and Tag. Tag uses only the remote options and
// the logger.
type Option func(*config) error

type config struct {
	remote      []remote.Option
	tags        []string
	annotations map[string]string
	log         Logger
}

func newConfig(opts []Option) (*config, error) {
	c := &config{log: func(string, ...any) {}}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("multiarch: nil Option")
		}
		if err := o(c); err != nil {
			return nil, fmt.Errorf("multiarch: %w", err)
		}
	}
	return c, nil
}

// WithRemoteOptions passes go-containerregistry options (keychain,
// transport, retry, user agent) to every registry request. The request
// context is always the one given to Merge or Tag.
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errors.New("nil remote.Option")
			}
		}
		c.remote = append(c.remote, opts...)
		return nil
	}
}

// tagRE is the distribution tag grammar.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidTag reports whether t is a tag by the distribution grammar
// ("latest", "v1.2.3"): at most 128 of [A-Za-z0-9_.-], not starting with
// '.' or '-'.
func ValidTag(t string) bool { return tagRE.MatchString(t) }

// WithTags makes Merge point these tags at the index. Without tags the
// index is pushed by digest only (to smoke-test before moving a tag with
// Tag). Repeated tags are pushed once.
func WithTags(tags ...string) Option {
	return func(c *config) error {
		for _, t := range tags {
			if !ValidTag(t) {
				return fmt.Errorf("invalid tag %q", t)
			}
			if !slices.Contains(c.tags, t) {
				c.tags = append(c.tags, t)
			}
		}
		return nil
	}
}

// WithAnnotations sets index-level annotations, e.g.
// org.opencontainers.image.description and .source, which GHCR shows for
// a multi-arch package. Later calls override earlier keys.
func WithAnnotations(a map[string]string) Option {
	return func(c *config) error {
		for k := range a {
			if k == "" {
				return errors.New("empty annotation key")
			}
		}
		if c.annotations == nil {
			c.annotations = make(map[string]string, len(a))
		}
		maps.Copy(c.annotations, a)
		return nil
	}
}

// WithLogger sends progress lines to log (default: discarded).
func WithLogger(log Logger) Option {
	return func(c *config) error {
		if log == nil {
			return errors.New("nil Logger")
		}
		c.log = log
		return nil
	}
}
