package pipeline

import "sync"

// tempSpace accounts for the layer files alive in the run's temp dir:
// the bytes held now and the most ever held at once (the run's peak temp
// disk use). A layer's file counts from the moment it is complete until it
// is removed; a file being written is smaller than it will be, so the peak
// is an upper bound of what the disk held.
type tempSpace struct {
	mu         sync.Mutex
	live, peak int64
}

// add counts a file of n bytes.
func (t *tempSpace) add(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live += n
	t.peak = max(t.peak, t.live)
}

// remove stops counting a file of n bytes.
func (t *tempSpace) remove(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live -= n
}

// Peak is the most bytes held at once so far.
func (t *tempSpace) Peak() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peak
}
