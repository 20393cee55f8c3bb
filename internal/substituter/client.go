package substituter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/org/nix-layer-action/internal/secrets"
)

// Client resolves store paths against the configured binary caches. It is
// safe for concurrent use. Each narinfo is fetched at most once per
// Client (results, including "not in this cache", are remembered).
type Client struct {
	o           options
	http        *http.Client
	caches      []*cache // ordered by priority once initCaches succeeded
	keys        []signature.PublicKey
	requireSigs bool
	netrc       *netrc
	redact      *secrets.Set  // credentials read here are registered in it
	sem         chan struct{} // bounds narinfo requests in flight

	initMu   sync.Mutex
	initDone bool
	initErr  error

	mu      sync.Mutex
	entries map[string]*entry // by store path
}

// entry is the (pending or finished) lookup of one store path.
type entry struct {
	done chan struct{}
	// set before done is closed:
	found *resolved
	err   error // nil with found == nil: no cache has the path
}

// resolved is a narinfo accepted from a cache.
type resolved struct {
	cache *cache
	info  *parsedNarinfo
}

// New returns a Client for cfg's substituters. Substituters with schemes
// this package cannot read are skipped (logged); a malformed substituter
// URL, trusted key or netrc file is an error. No request is made before
// the first PathInfos or OpenNAR call.
func New(cfg *Config, opts ...Option) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("substituter: nil Config")
	}
	o := defaultOptions()
	cfg.applyTo(&o)
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("substituter: %w", err)
		}
	}
	if o.secrets == nil {
		o.secrets = secrets.New()
	}
	c := &Client{o: o, requireSigs: cfg.RequireSigs, redact: o.secrets,
		sem: make(chan struct{}, o.concurrency), entries: make(map[string]*entry)}
	if o.transport == nil {
		o.transport = defaultTransport(&o)
	}
	c.http = &http.Client{Transport: o.transport}
	if err := c.addCaches(cfg.Substituters); err != nil {
		return nil, err
	}
	for _, k := range cfg.TrustedPublicKeys {
		pk, err := signature.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("substituter: trusted public key %q: %w", k, err)
		}
		c.keys = append(c.keys, pk)
	}
	if err := c.loadNetrc(cfg.NetrcFile, !cfg.netrcIsDefault); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) addCaches(urls []string) error {
	for i, raw := range urls {
		ch, reason, err := parseCache(raw, i)
		if err != nil {
			return &CacheError{Cache: redactURLText(raw), Err: err}
		}
		if ch == nil {
			c.o.logf("substituter: skipping %s: %s", redactURLText(raw), reason)
			continue
		}
		if ch.user != nil {
			pw, _ := ch.user.Password()
			c.redact.Add(ch.user.Username())
			c.redact.AddBasic(ch.user.Username(), pw)
		}
		c.caches = append(c.caches, ch)
	}
	return nil
}

// applyTo makes Nix's timeouts and download attempts the client's
// defaults (options given to New still win).
func (cfg *Config) applyTo(o *options) {
	if cfg.ConnectTimeout > 0 {
		o.connectTimeout = cfg.ConnectTimeout
	}
	if cfg.StalledTimeout > 0 {
		o.idleTimeout = cfg.StalledTimeout
	}
	if cfg.DownloadAttempts > 0 {
		o.retries = min(cfg.DownloadAttempts-1, 10)
	}
}

// loadNetrc reads the netrc file; a missing file means no credentials, as
// for Nix (curl's optional netrc), noted in the log when it was chosen
// rather than Nix's default.
func (c *Client) loadNetrc(path string, chosen bool) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if chosen {
			c.o.logf("substituter: netrc-file %s does not exist; no credentials", path)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("substituter: netrc-file: %w", err)
	}
	n, err := parseNetrc(string(data))
	if err != nil {
		return fmt.Errorf("substituter: netrc-file %s: %w", path, err)
	}
	for _, e := range n.entries {
		c.redact.Add(e.login)
		c.redact.AddBasic(e.login, e.password)
	}
	c.netrc = n
	return nil
}

// Caches returns the usable substituter URLs (credentials removed), in the
// order they are tried: by priority once a lookup has read their
// nix-cache-info, in configured order before.
func (c *Client) Caches() []string {
	c.initMu.Lock()
	defer c.initMu.Unlock()
	out := make([]string, len(c.caches))
	for i, ch := range c.caches {
		out[i] = ch.display
	}
	return out
}

// lookup returns the accepted narinfo of storePath (nil if no cache has
// it), fetching it at most once per Client. Concurrent lookups of one path
// share a fetch. A lookup ended by its caller's context is forgotten, so a
// later call fetches again.
func (c *Client) lookup(ctx context.Context, storePath string) (*resolved, error) {
	for {
		c.mu.Lock()
		e, ok := c.entries[storePath]
		if !ok {
			e = &entry{done: make(chan struct{})}
			c.entries[storePath] = e
		}
		c.mu.Unlock()
		if !ok {
			e.found, e.err = c.resolve(ctx, storePath)
			if e.err != nil && ctx.Err() != nil {
				c.mu.Lock()
				delete(c.entries, storePath)
				c.mu.Unlock()
			}
			close(e.done)
			return e.found, e.err
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil && (errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue // the fetching caller gave up; try ourselves
		}
		return e.found, e.err
	}
}

// resolve asks the caches in priority order for storePath's narinfo. The
// first acceptable one wins; a rejected signature makes the next cache be
// tried, and is the error only when no cache has an acceptable narinfo.
func (c *Client) resolve(ctx context.Context, storePath string) (*resolved, error) {
	hashPart, err := splitStorePath(storePath, c.o.storeDir)
	if err != nil {
		return nil, err
	}
	if err := c.initCaches(ctx); err != nil {
		return nil, err
	}
	var sigErr *SignatureError
	for _, ch := range c.caches {
		p, err := c.fetchNarinfo(ctx, ch, storePath, hashPart)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		if c.requireSigs && !ch.trusted {
			if reason := p.verify(c.keys); reason != "" {
				c.o.logf("substituter: rejecting narinfo of %s from %s: %s", storePath, ch.display, reason)
				if sigErr == nil {
					sigErr = &SignatureError{Path: storePath, Cache: ch.display, Reason: reason}
				}
				continue
			}
		}
		ch.stats.narinfoHits.Add(1)
		return &resolved{cache: ch, info: p}, nil
	}
	if sigErr != nil {
		return nil, sigErr
	}
	return nil, nil
}

// fetchNarinfo fetches and parses <cache>/<hashPart>.narinfo; nil when the
// cache does not have it.
func (c *Client) fetchNarinfo(ctx context.Context, ch *cache, storePath, hashPart string) (*parsedNarinfo, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	data, found, err := c.fetchSmall(ctx, ch, hashPart+".narinfo")
	<-c.sem
	ch.stats.narinfoRequests.Add(1)
	ch.stats.narinfoBytes.Add(int64(len(data)))
	if err != nil || !found {
		return nil, err
	}
	p, err := parseNarinfo(data, storePath, c.o.storeDir)
	if err != nil {
		return nil, &NarinfoError{Path: storePath, Cache: ch.display, Err: err}
	}
	return p, nil
}

// CacheStats are the transfer counters of one cache.
type CacheStats struct {
	Cache            string // URL, credentials removed
	NarinfoRequests  int64  // narinfo requests made (hits and misses)
	NarinfoHits      int64  // narinfos accepted from this cache
	NarinfoBytes     int64  // narinfo bytes received
	NARRequests      int64  // NAR downloads opened
	NARWireBytes     int64  // NAR bytes downloaded (compressed, as sent)
	NARBytes         int64  // NAR bytes after decompression
	Priority         int
	SignaturesNeeded bool // false for ?trusted=1 caches or require-sigs = false
}

// Stats returns the counters of every usable cache, in lookup order.
func (c *Client) Stats() []CacheStats {
	c.initMu.Lock()
	defer c.initMu.Unlock()
	out := make([]CacheStats, len(c.caches))
	for i, ch := range c.caches {
		s := &ch.stats
		out[i] = CacheStats{
			Cache: ch.display, Priority: ch.priority, SignaturesNeeded: c.requireSigs && !ch.trusted,
			NarinfoRequests: s.narinfoRequests.Load(), NarinfoHits: s.narinfoHits.Load(),
			NarinfoBytes: s.narinfoBytes.Load(), NARRequests: s.narRequests.Load(),
			NARWireBytes: s.narWireBytes.Load(), NARBytes: s.narBytes.Load(),
		}
	}
	return out
}
