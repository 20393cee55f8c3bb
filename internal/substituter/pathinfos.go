package substituter

import (
	"context"
	"sort"

	"github.com/org/nix-layer-action/internal/closure"
)

// PathInfos returns the metadata of the closure of paths (paths and
// everything they reference, recursively), sorted by path, from the
// narinfos of the configured caches. At most the WithConcurrency number of
// lookups run at once.
//
// NarHash is "sha256:<nix32>"; References are absolute store paths, sorted,
// a self-reference included (as in nix path-info).
//
// If some paths are in no cache, the error is a *MissingError listing them
// and the returned slice holds every path that was found (the references
// of a missing path are unknown, so its own dependencies are not visited).
// Any other failure (a stalled or failing cache, a rejected signature, a
// bad narinfo) returns a nil slice and that error.
func (c *Client) PathInfos(ctx context.Context, paths []string) ([]closure.PathInfo, error) {
	for _, p := range paths {
		if _, err := splitStorePath(p, c.o.storeDir); err != nil {
			return nil, err
		}
	}
	w := &walk{c: c, seen: make(map[string]bool), results: make(chan walkResult)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, p := range paths {
		w.enqueue(p)
	}
	for len(w.queue) > 0 || w.inflight > 0 {
		w.launch(ctx)
		r := <-w.results
		w.inflight--
		if err := w.take(r); err != nil && w.err == nil {
			w.err = err
			w.queue = nil
			cancel() // stop the lookups in flight; drain them
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	sort.Slice(w.infos, func(i, j int) bool { return w.infos[i].Path < w.infos[j].Path })
	if len(w.missing) > 0 {
		sort.Strings(w.missing)
		return w.infos, &MissingError{Paths: w.missing}
	}
	return w.infos, nil
}

// walk is the state of one PathInfos traversal; only PathInfos' goroutine
// touches it, lookups report through results.
type walk struct {
	c        *Client
	seen     map[string]bool
	queue    []string
	inflight int
	results  chan walkResult
	infos    []closure.PathInfo
	missing  []string
	err      error
}

type walkResult struct {
	path  string
	found *resolved
	err   error
}

func (w *walk) enqueue(p string) {
	if !w.seen[p] {
		w.seen[p] = true
		w.queue = append(w.queue, p)
	}
}

// launch starts lookups from the queue up to the concurrency bound.
func (w *walk) launch(ctx context.Context) {
	for w.inflight < w.c.o.concurrency && len(w.queue) > 0 {
		p := w.queue[0]
		w.queue = w.queue[1:]
		w.inflight++
		go func() {
			found, err := w.c.lookup(ctx, p)
			w.results <- walkResult{path: p, found: found, err: err}
		}()
	}
}

// take records one lookup result and queues the path's references.
func (w *walk) take(r walkResult) error {
	if w.err != nil {
		return nil // draining after a failure
	}
	if r.err != nil {
		return r.err
	}
	if r.found == nil {
		w.missing = append(w.missing, r.path)
		return nil
	}
	info := r.found.info.pathInfo()
	w.infos = append(w.infos, info)
	for _, ref := range info.References {
		w.enqueue(ref)
	}
	return nil
}
