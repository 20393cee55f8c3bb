package progress

import (
	"io"
	"sync/atomic"
	"time"
)

// Task is one tracked piece of work: bytes done of a total. Add, Reader and
// Writer are safe from several goroutines. A nil *Task ignores every call,
// so callers may pass nil when they report nothing.
type Task struct {
	r     *Reporter
	name  string
	total int64
	start time.Time
	quiet bool // known total below MinTotal: no lines

	done      atomic.Int64
	nextCheck atomic.Int64 // Add takes the slow path once done reaches it

	// guarded by r.mu
	quarter      int       // last quarter reported, 0..4
	nextDue      time.Time // log mode: next periodic line
	finished     bool
	reportedFull bool // the final line has been printed
}

// Add records n more bytes done.
func (t *Task) Add(n int64) {
	if t == nil || n <= 0 {
		return
	}
	if t.done.Add(n) >= t.nextCheck.Load() {
		t.r.report(t)
	}
}

// Done ends the task: it leaves the live line, and a task that prints
// prints its final line (size, time and average rate) unless it already
// did at 100 %. Calling Done again does nothing.
func (t *Task) Done() {
	if t == nil {
		return
	}
	t.r.finish(t)
}

// Bytes returns the bytes done so far.
func (t *Task) Bytes() int64 {
	if t == nil {
		return 0
	}
	return t.done.Load()
}

// checkpoint is the byte count at which Add next takes the slow path: the
// next quarter boundary or checkStep bytes on, whichever comes first.
func (t *Task) checkpoint(done int64) int64 {
	next := done + t.r.step
	if t.total > 0 {
		if q := quarter(done, t.total); q < 4 {
			next = min(next, quarterBytes(q+1, t.total))
		}
	}
	return next
}

// Reader returns r counting every byte read into t.
func (t *Task) Reader(r io.Reader) io.Reader { return &reader{r: r, t: t} }

// Writer returns w counting every byte written into t.
func (t *Task) Writer(w io.Writer) io.Writer { return &writer{w: w, t: t} }

type reader struct {
	r io.Reader
	t *Task
}

func (c *reader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.t.Add(int64(n))
	return n, err
}

type writer struct {
	w io.Writer
	t *Task
}

func (c *writer) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.t.Add(int64(n))
	return n, err
}
