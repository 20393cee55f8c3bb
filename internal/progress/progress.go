// Package progress reports on long work: layers being built (bytes read of
// a known total) and blobs being uploaded (bytes sent of a known total).
//
// On a terminal it keeps one live line, rewritten in place with '\r', that
// shows every active task; a finished task leaves one permanent line. Without
// a terminal (CI logs) each task prints a line at most every Interval
// (default 5 s) and whenever it crosses 25, 50, 75 and 100 %, with its rate
// in MB/s and an ETA. Tasks smaller than MinTotal finish too fast to be worth
// a line and print nothing. Phase and Summary time the phases of a run
// ("resolve 0.4s, previous image 0.1s, build 12.3s, upload 3.2s").
//
// The package reads no environment: the caller says whether the output is
// a terminal (TTY) and may inject a clock for tests. Task.Add is safe from
// several goroutines and costs one atomic add and one atomic load on its
// fast path.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Defaults of the options.
const (
	DefaultInterval = 5 * time.Second
	DefaultRefresh  = 200 * time.Millisecond
	DefaultMinTotal = 32 << 20
)

// checkStep is how many bytes a task may advance between two looks at the
// clock (a quarter crossing is always seen at once).
const checkStep = 4 << 20

// never is a checkpoint Add never reaches.
const never = int64(^uint64(0) >> 1)

// maxLiveTasks is the most tasks the live terminal line names.
const maxLiveTasks = 3

// Option configures a Reporter.
type Option func(*Reporter)

// TTY says whether the output is a terminal (a live, rewritten line) or a
// log (periodic lines). The default is a log.
func TTY(on bool) Option { return func(r *Reporter) { r.tty = on } }

// Interval sets how often, at most, a task prints a line in log mode
// (default DefaultInterval). Values <= 0 keep the default.
func Interval(d time.Duration) Option {
	return func(r *Reporter) {
		if d > 0 {
			r.interval = d
		}
	}
}

// Refresh sets how often, at most, the live terminal line is redrawn
// (default DefaultRefresh). Values <= 0 keep the default.
func Refresh(d time.Duration) Option {
	return func(r *Reporter) {
		if d > 0 {
			r.refresh = d
		}
	}
}

// Clock replaces time.Now, for tests.
func Clock(now func() time.Time) Option {
	return func(r *Reporter) {
		if now != nil {
			r.now = now
		}
	}
}

// MinTotal sets the size below which a task with a known total prints
// nothing (default DefaultMinTotal). Tasks of unknown total (total <= 0)
// always report, but only every Interval, since they have no percentages.
func MinTotal(n int64) Option { return func(r *Reporter) { r.minTotal = n } }

// Reporter tracks tasks and phases and writes their progress to one writer.
// Its methods are safe for concurrent use.
type Reporter struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	refresh  time.Duration
	now      func() time.Time
	minTotal int64
	step     int64 // checkStep; smaller in tests

	mu       sync.Mutex
	tasks    []*Task // active, in start order
	live     bool    // a live terminal line is on screen
	nextDraw time.Time
	phases   []phaseTime
	phase    string
	phaseAt  time.Time
}

type phaseTime struct {
	name string
	d    time.Duration
}

// New returns a Reporter writing to w.
func New(w io.Writer, opts ...Option) *Reporter {
	r := &Reporter{w: w, interval: DefaultInterval, refresh: DefaultRefresh, now: time.Now, minTotal: DefaultMinTotal, step: checkStep}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Task starts tracking a task. total is its size in bytes; <= 0 means
// unknown. Call Done when it ends.
func (r *Reporter) Task(name string, total int64) *Task {
	t := &Task{r: r, name: name, total: total, start: r.now()}
	t.quiet = total > 0 && total < r.minTotal
	t.nextDue = t.start.Add(r.interval)
	t.nextCheck.Store(never)
	if !t.quiet {
		t.nextCheck.Store(t.checkpoint(0))
	}
	r.mu.Lock()
	r.tasks = append(r.tasks, t)
	r.mu.Unlock()
	return t
}

// Tick prints whatever is due without any task advancing: log lines of
// stalled tasks, a redraw of the live line. Start calls it periodically.
func (r *Reporter) Tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.tty {
		r.drawLocked(now, false)
		return
	}
	for _, t := range r.tasks {
		r.logLocked(t, now)
	}
}

// Start calls Tick periodically (every Refresh on a terminal, every fifth of
// Interval in log mode) until the returned stop function is called.
func (r *Reporter) Start() (stop func()) {
	period := r.interval / 5
	if r.tty {
		period = r.refresh
	}
	period = max(period, 10*time.Millisecond)
	ticker := time.NewTicker(period)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-ticker.C:
				r.Tick()
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			ticker.Stop()
			close(quit)
			<-exited
		})
	}
}

// Phase ends the running phase, if any, and starts the phase name. A name
// used again adds to its earlier time.
func (r *Reporter) Phase(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endPhaseLocked(r.now())
	r.phase = name
}

// Summary ends the running phase, clears the live terminal line and returns
// every phase's time in the order the phases first started, e.g.
// "resolve 0.4s, previous image 0.1s, build 12.3s, upload 3.2s". It writes
// nothing else; the caller prints the result where it wants.
func (r *Reporter) Summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endPhaseLocked(r.now())
	r.clearLiveLocked()
	parts := make([]string, len(r.phases))
	for i, p := range r.phases {
		parts[i] = p.name + " " + formatDuration(p.d)
	}
	return strings.Join(parts, ", ")
}

func (r *Reporter) endPhaseLocked(now time.Time) {
	if r.phase != "" {
		d := now.Sub(r.phaseAt)
		found := false
		for i := range r.phases {
			if r.phases[i].name == r.phase {
				r.phases[i].d += d
				found = true
			}
		}
		if !found {
			r.phases = append(r.phases, phaseTime{r.phase, d})
		}
	}
	r.phase, r.phaseAt = "", now
}

// report is the slow path of Task.Add: the task passed its checkpoint.
func (r *Reporter) report(t *Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.finished {
		return
	}
	now := r.now()
	t.nextCheck.Store(t.checkpoint(t.done.Load()))
	if r.tty {
		r.drawLocked(now, false)
		return
	}
	r.logLocked(t, now)
}

// logLocked prints t's log line if it crossed a quarter or is due.
func (r *Reporter) logLocked(t *Task, now time.Time) {
	if t.quiet || t.finished || t.reportedFull {
		return
	}
	done := t.done.Load()
	q := quarter(done, t.total)
	if q <= t.quarter && now.Before(t.nextDue) {
		return
	}
	t.quarter, t.nextDue = q, now.Add(r.interval)
	if q == 4 {
		t.reportedFull = true
		r.println(finalLine(t.name, done, t.total, now.Sub(t.start)))
		return
	}
	r.println(logLine(t.name, done, t.total, now.Sub(t.start)))
}

// drawLocked redraws the live line (when force or a redraw is due).
func (r *Reporter) drawLocked(now time.Time, force bool) {
	if !force && now.Before(r.nextDraw) {
		return
	}
	r.nextDraw = now.Add(r.refresh)
	var parts []string
	active := 0
	for _, t := range r.tasks {
		if t.quiet {
			continue
		}
		active++
		if len(parts) < maxLiveTasks {
			parts = append(parts, liveItem(t.name, t.done.Load(), t.total, now.Sub(t.start)))
		}
	}
	if len(parts) == 0 {
		r.clearLiveLocked()
		return
	}
	line := strings.Join(parts, " | ")
	if active > len(parts) {
		line += fmt.Sprintf(" | +%d more", active-len(parts))
	}
	fmt.Fprintf(r.w, "\r%s\x1b[K", line)
	r.live = true
}

func (r *Reporter) clearLiveLocked() {
	if r.live {
		io.WriteString(r.w, "\r\x1b[K")
		r.live = false
	}
}

// println writes a permanent line (log mode has no live line to keep).
func (r *Reporter) println(line string) {
	io.WriteString(r.w, line+"\n")
}

// finish is Task.Done.
func (r *Reporter) finish(t *Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.finished {
		return
	}
	now := r.now()
	for i, x := range r.tasks {
		if x == t {
			r.tasks = append(r.tasks[:i], r.tasks[i+1:]...)
			break
		}
	}
	if !t.quiet && !t.reportedFull {
		t.reportedFull = true
		done := t.done.Load()
		r.clearLiveLocked()
		io.WriteString(r.w, finalLine(t.name, done, t.total, now.Sub(t.start))+"\n")
	}
	t.finished = true
	t.nextCheck.Store(never)
	if r.tty {
		r.drawLocked(now, true)
	}
}
