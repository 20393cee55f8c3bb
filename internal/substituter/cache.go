package substituter

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// cache is one configured substituter.
type cache struct {
	display       string        // URL without credentials or query, for messages
	base          *url.URL      // http(s) or file URL without userinfo or query
	user          *url.Userinfo // credentials from the URL, sent as basic auth
	dir           string        // local directory of a file:// cache
	priority      int           // lower is tried first
	priorityFixed bool          // ?priority= given: nix-cache-info does not override
	trusted       bool          // ?trusted=1: signatures not required
	order         int           // position in Config.Substituters
	stats         cacheCounters
}

type cacheCounters struct {
	narinfoRequests, narinfoBytes, narinfoHits atomic.Int64
	narRequests, narWireBytes, narBytes        atomic.Int64
}

// isFile reports whether c is a file:// cache.
func (c *cache) isFile() bool { return c.dir != "" }

// parseCache turns a substituter URL into a cache. ok is false (with a
// reason) for schemes this package does not read.
func parseCache(raw string, order int) (c *cache, reason string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", urlErrorReason(err)
	}
	c = &cache{order: order}
	q := u.Query()
	if err := c.applyQuery(q); err != nil {
		return nil, "", err
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, "", fmt.Errorf("no host")
		}
		c.user, u.User = u.User, nil
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, "", fmt.Errorf("file URL with host %q", u.Host)
		}
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return nil, "", fmt.Errorf("file URL without an absolute path")
		}
		c.dir = filepath.Clean(u.Path)
		u.Host, u.Path, u.RawPath = "", c.dir, ""
	default:
		return nil, fmt.Sprintf("scheme %q is not supported (only http, https and file)", u.Scheme), nil
	}
	c.base = u
	c.display = u.String()
	return c, "", nil
}

// applyQuery reads the store settings Nix 2.8 honours for substituters
// that matter here: priority and trusted. Others are ignored.
func (c *cache) applyQuery(q url.Values) error {
	if v := q.Get("priority"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("priority=%q is not an integer", v)
		}
		c.priority, c.priorityFixed = p, true
	}
	if v := q.Get("trusted"); v != "" {
		b, ok := parseNixBool(v)
		if !ok {
			return fmt.Errorf("trusted=%q is not a boolean", v)
		}
		c.trusted = b
	}
	return nil
}

// resolve returns the URL of a file of the cache. rel must be a relative
// slash path without "..", as narinfo URLs are; an absolute http(s) URL is
// accepted for http caches, as Nix does.
func (c *cache) resolve(rel string) (string, error) {
	if u, err := url.Parse(rel); err == nil && u.IsAbs() {
		if c.isFile() || (u.Scheme != "http" && u.Scheme != "https") {
			return "", fmt.Errorf("absolute URL %q not allowed for cache %s", redactURLText(rel), c.display)
		}
		return rel, nil
	}
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") {
		return "", fmt.Errorf("bad relative URL %q", rel)
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return "", fmt.Errorf("bad relative URL %q", rel)
		}
	}
	if c.isFile() {
		return filepath.Join(c.dir, filepath.FromSlash(rel)), nil
	}
	return c.base.String() + "/" + rel, nil
}

// cacheInfo is the parsed nix-cache-info of a cache.
type cacheInfo struct {
	storeDir    string
	priority    int
	hasPriority bool
}

// parseCacheInfo parses "Key: value" lines; unknown keys and lines without
// a colon are ignored, as Nix does.
func parseCacheInfo(data []byte) (cacheInfo, error) {
	var ci cacheInfo
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "StoreDir":
			ci.storeDir = v
		case "Priority":
			p, err := strconv.Atoi(v)
			if err != nil {
				return ci, fmt.Errorf("nix-cache-info: Priority %q is not an integer", v)
			}
			ci.priority, ci.hasPriority = p, true
		}
	}
	return ci, sc.Err()
}

// initCaches reads every cache's nix-cache-info (once per Client, in
// parallel), checks StoreDir and orders the caches by priority (stable, so
// equal priorities keep the configured order, as in Nix).
func (c *Client) initCaches(ctx context.Context) error {
	c.initMu.Lock()
	defer c.initMu.Unlock()
	if c.initDone {
		return c.initErr
	}
	errs := make([]error, len(c.caches))
	done := make(chan int)
	for i, ch := range c.caches {
		go func() {
			errs[i] = c.readCacheInfo(ctx, ch)
			done <- i
		}()
	}
	for range c.caches {
		<-done
	}
	for _, err := range errs {
		if err != nil {
			if ctx.Err() == nil {
				c.initDone, c.initErr = true, err
			}
			return err
		}
	}
	sort.SliceStable(c.caches, func(i, j int) bool { return c.caches[i].priority < c.caches[j].priority })
	c.initDone = true
	return nil
}

func (c *Client) readCacheInfo(ctx context.Context, ch *cache) error {
	data, found, err := c.fetchSmall(ctx, ch, "nix-cache-info")
	if err != nil {
		return err
	}
	if !found {
		if ch.isFile() {
			return nil // Nix creates it on first write; reading treats it as defaults
		}
		return &CacheError{Cache: ch.display, Err: fmt.Errorf("no nix-cache-info: does not appear to be a binary cache")}
	}
	ci, err := parseCacheInfo(data)
	if err != nil {
		return &CacheError{Cache: ch.display, Err: err}
	}
	if ci.storeDir != "" && ci.storeDir != c.o.storeDir {
		return &CacheError{Cache: ch.display, Err: fmt.Errorf("is for Nix stores with prefix %q, not %q", ci.storeDir, c.o.storeDir)}
	}
	if ci.hasPriority && !ch.priorityFixed {
		ch.priority = ci.priority
	}
	return nil
}

// parseNixBool accepts the spellings Nix 2.8 does for a boolean store
// setting.
func parseNixBool(s string) (value, ok bool) {
	switch s {
	case "true", "yes", "1":
		return true, true
	case "false", "no", "0":
		return false, true
	}
	return false, false
}
