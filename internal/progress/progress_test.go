package progress

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for the ticker goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the output's lines (without the final newline).
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func checkLines(t *testing.T, got string, want ...string) {
	t.Helper()
	g := lines(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

const mb = 1_000_000

// step makes Add look at the clock every n bytes instead of checkStep, so
// that tests can use small Adds.
func step(n int64) Option { return func(r *Reporter) { r.step = n } }

// TestLogModeQuartersAndInterval: without a TTY a task prints when it
// crosses 25/50/75/100 % and at most every Interval otherwise, also when
// stalled (Tick), with rate and ETA; Done adds nothing after 100 %.
func TestLogModeQuartersAndInterval(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, Clock(clk.Now), MinTotal(0), step(mb))
	task := r.Task("build cuda", 100*mb)

	clk.Advance(time.Second)
	task.Add(10 * mb) // 10 %: not a quarter, not due
	checkLines(t, out.String())

	clk.Advance(time.Second)
	task.Add(20 * mb) // 30 % at 2 s: crossed 25 %
	checkLines(t, out.String(),
		"build cuda: 28.6 MiB of 95.4 MiB (30%), 15.0 MB/s, ETA 4.7s")

	clk.Advance(4 * time.Second)
	task.Add(2 * mb) // 32 % at 6 s: last line at 2 s, due at 7 s
	if n := len(lines(out.String())); n != 1 {
		t.Fatalf("line before the interval was over:\n%s", out.String())
	}
	clk.Advance(time.Second)
	task.Add(2 * mb) // 34 % at 7 s: due
	clk.Advance(6 * time.Second)
	r.Tick() // stalled at 13 s: due again at 12 s
	r.Tick() // not due again
	clk.Advance(time.Second)
	task.Add(66 * mb) // 100 % at 14 s
	task.Done()
	task.Done()
	task.Add(mb) // after Done: counted, not printed
	r.Tick()
	checkLines(t, out.String(),
		"build cuda: 28.6 MiB of 95.4 MiB (30%), 15.0 MB/s, ETA 4.7s",
		"build cuda: 32.4 MiB of 95.4 MiB (34%), 4.9 MB/s, ETA 13.6s",
		"build cuda: 32.4 MiB of 95.4 MiB (34%), 2.6 MB/s, ETA 25.2s",
		"build cuda: 95.4 MiB (100%) in 14.0s, 7.1 MB/s")
	if task.Bytes() != 101*mb {
		t.Errorf("Bytes = %d", task.Bytes())
	}
}

// TestLogModeEveryQuarter: one Add per quarter, no time passing, gives one
// line per quarter and no more.
func TestLogModeEveryQuarter(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, Clock(clk.Now), MinTotal(0))
	task := r.Task("upload app", 400*mb)
	for i := 0; i < 8; i++ {
		clk.Advance(time.Second)
		task.Add(50 * mb)
	}
	task.Done()
	checkLines(t, out.String(),
		"upload app: 95.4 MiB of 381.5 MiB (25%), 50.0 MB/s, ETA 6.0s",
		"upload app: 190.7 MiB of 381.5 MiB (50%), 50.0 MB/s, ETA 4.0s",
		"upload app: 286.1 MiB of 381.5 MiB (75%), 50.0 MB/s, ETA 2.0s",
		"upload app: 381.5 MiB (100%) in 8.0s, 50.0 MB/s")
}

// TestClockCheckedEveryStep: between quarters Add looks at the clock only
// once checkStep more bytes are done, so a due line waits for them (or for
// Tick).
func TestClockCheckedEveryStep(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, Clock(clk.Now), MinTotal(0))
	task := r.Task("build big", 1000*checkStep)
	clk.Advance(time.Minute)
	task.Add(checkStep - 1) // due, but the clock is not read yet
	if out.Len() != 0 {
		t.Fatalf("clock read before checkStep bytes:\n%s", out.String())
	}
	task.Add(1)
	if n := len(lines(out.String())); n != 1 {
		t.Fatalf("after checkStep bytes, %d lines:\n%s", n, out.String())
	}
	clk.Advance(time.Minute)
	task.Add(1)
	r.Tick()
	if n := len(lines(out.String())); n != 2 {
		t.Fatalf("Tick did not print the due line:\n%s", out.String())
	}
}

// TestQuietTask: a task below MinTotal prints nothing at all.
func TestQuietTask(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, Clock(clk.Now), MinTotal(10*mb))
	task := r.Task("build tiny", 9*mb)
	for i := 0; i < 9; i++ {
		clk.Advance(10 * time.Second)
		task.Add(mb)
		r.Tick()
	}
	task.Done()
	if out.Len() != 0 {
		t.Errorf("quiet task printed:\n%s", out.String())
	}
	if task.Bytes() != 9*mb {
		t.Errorf("quiet task counted %d", task.Bytes())
	}
}

// TestUnknownTotal: no percentages or ETA, a line every interval, and a
// final line on Done.
func TestUnknownTotal(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, Clock(clk.Now), Interval(2*time.Second), step(mb))
	task := r.Task("upload blob", 0)
	for i := 0; i < 5; i++ {
		clk.Advance(time.Second)
		task.Add(2 * mb)
	}
	task.Done()
	checkLines(t, out.String(),
		"upload blob: 3.8 MiB, 2.0 MB/s",
		"upload blob: 7.6 MiB, 2.0 MB/s",
		"upload blob: 9.5 MiB in 5.0s, 2.0 MB/s")
}

// TestDoneShort: a task that ends before its total reports what it did.
func TestDoneShort(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, Clock(clk.Now), MinTotal(0))
	task := r.Task("build x", 100*mb)
	clk.Advance(2 * time.Second)
	task.Add(10 * mb)
	task.Done()
	checkLines(t, out.String(), "build x: 9.5 MiB (10%) in 2.0s, 5.0 MB/s")
}

// TestTTYRewritesLine: on a terminal the live line is rewritten in place
// with '\r' (no newline while tasks run), redrawn at most every Refresh,
// names every active task, and a finished task leaves one permanent line.
func TestTTYRewritesLine(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, TTY(true), Clock(clk.Now), MinTotal(0), Refresh(time.Second))
	a := r.Task("build a", 100*mb)
	b := r.Task("upload b", 0)
	clk.Advance(time.Second)
	a.Add(50 * mb)
	const first = "\rbuild a 50% 47.7 MiB/95.4 MiB 50.0 MB/s ETA 1.0s | upload b 0 B\x1b[K"
	if got := out.String(); got != first {
		t.Fatalf("live line %q, want %q", got, first)
	}
	clk.Advance(500 * time.Millisecond)
	b.Add(3 * mb) // redraw not due yet
	if got := out.String(); got != first {
		t.Fatalf("redrawn before Refresh: %q", got)
	}
	clk.Advance(500 * time.Millisecond)
	r.Tick()
	const second = "\rbuild a 50% 47.7 MiB/95.4 MiB 25.0 MB/s ETA 2.0s | upload b 2.9 MiB 1.5 MB/s\x1b[K"
	if got := out.String(); got != first+second {
		t.Fatalf("after Tick %q", got)
	}
	if strings.Contains(out.String(), "\n") {
		t.Fatal("live line printed a newline")
	}
	a.Add(50 * mb)
	a.Done()
	const doneA = "\r\x1b[Kbuild a: 95.4 MiB (100%) in 2.0s, 50.0 MB/s\n" +
		"\rupload b 2.9 MiB 1.5 MB/s\x1b[K"
	if got := out.String(); got != first+second+doneA {
		t.Fatalf("after Done %q", strings.TrimPrefix(got, first+second))
	}
	b.Done()
	summary := r.Summary()
	const doneB = "\r\x1b[Kupload b: 2.9 MiB in 2.0s, 1.5 MB/s\n"
	if got := out.String(); got != first+second+doneA+doneB {
		t.Fatalf("after last Done %q", strings.TrimPrefix(got, first+second+doneA))
	}
	if summary != "" {
		t.Errorf("Summary without phases = %q", summary)
	}
}

// TestTTYManyTasks: the live line names three tasks and counts the rest.
func TestTTYManyTasks(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	r := New(&out, TTY(true), Clock(clk.Now), MinTotal(0))
	var tasks []*Task
	for i := 1; i <= 5; i++ {
		tasks = append(tasks, r.Task("t"+strconv.Itoa(i), 0))
	}
	r.Tick()
	want := "\rt1 0 B | t2 0 B | t3 0 B | +2 more\x1b[K"
	if out.String() != want {
		t.Errorf("live line %q, want %q", out.String(), want)
	}
	// Summary clears the live line.
	r.Summary()
	if !strings.HasSuffix(out.String(), "\r\x1b[K") {
		t.Errorf("Summary left the live line: %q", out.String())
	}
	for _, x := range tasks {
		x.Done()
	}
}

// TestConcurrentAdd: Adds from several goroutines are all counted, and each
// quarter is reported exactly once (the clock stands still, so no periodic
// lines), in order. Run with -race.
func TestConcurrentAdd(t *testing.T) {
	clk := newFakeClock()
	var out syncBuffer
	r := New(&out, Clock(clk.Now), MinTotal(0))
	const workers, adds, chunk = 8, 2000, 4096
	task := r.Task("build big", workers*adds*chunk)
	other := r.Task("upload other", 0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < adds; i++ {
				task.Add(chunk)
				other.Add(1)
				if i%500 == 0 {
					r.Tick()
				}
			}
		}()
	}
	wg.Wait()
	task.Done()
	if task.Bytes() != workers*adds*chunk || other.Bytes() != workers*adds {
		t.Fatalf("counted %d and %d", task.Bytes(), other.Bytes())
	}
	got := lines(out.String())
	if len(got) != 4 {
		t.Fatalf("want 3 quarter lines and a final one, got:\n%s", out.String())
	}
	last := int64(0)
	for i, l := range got[:3] {
		var pct int64
		if _, err := fmt.Sscanf(l[strings.Index(l, "(")+1:], "%d%%", &pct); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if pct < int64(25*(i+1)) || pct < last {
			t.Errorf("line %d at %d%%, want >= %d%% and increasing", i, pct, 25*(i+1))
		}
		last = pct
	}
	if !strings.Contains(got[3], "(100%)") {
		t.Errorf("final line %q", got[3])
	}
}

// TestPhasesSummary: phases are timed in the order they first start; a
// phase entered again adds up.
func TestPhasesSummary(t *testing.T) {
	clk := newFakeClock()
	r := New(io.Discard, Clock(clk.Now))
	step := func(name string, d time.Duration) {
		r.Phase(name)
		clk.Advance(d)
	}
	step("resolve", 400*time.Millisecond)
	step("previous image", 100*time.Millisecond)
	step("build", 12*time.Second)
	step("upload", 3200*time.Millisecond)
	step("build", 300*time.Millisecond)
	step("upload", 2*time.Minute)
	if got, want := r.Summary(), "resolve 0.4s, previous image 0.1s, build 12.3s, upload 2m03s"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	clk.Advance(time.Hour) // no phase running: nothing to add
	if got, want := r.Summary(), "resolve 0.4s, previous image 0.1s, build 12.3s, upload 2m03s"; got != want {
		t.Errorf("second Summary = %q, want %q", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0.0s",
		40 * time.Millisecond:                 "0.0s",
		400 * time.Millisecond:                "0.4s",
		59*time.Second + 900*time.Millisecond: "59.9s",
		125 * time.Second:                     "2m05s",
		time.Hour + 2*time.Minute:             "1h02m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestReaderWriter: both wrappers count exactly the bytes that pass and
// keep the data intact; a nil task is ignored.
func TestReaderWriter(t *testing.T) {
	r := New(io.Discard)
	in, outTask := r.Task("read", 0), r.Task("write", 0)
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	var dst bytes.Buffer
	n, err := io.Copy(outTask.Writer(&dst), in.Reader(bytes.NewReader(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copy: %d %v", n, err)
	}
	if in.Bytes() != n || outTask.Bytes() != n || !bytes.Equal(dst.Bytes(), data) {
		t.Errorf("read %d, wrote %d, data equal %v; want %d", in.Bytes(), outTask.Bytes(), bytes.Equal(dst.Bytes(), data), n)
	}
	var none *Task
	none.Add(5)
	none.Done()
	if none.Bytes() != 0 {
		t.Error("nil task counted")
	}
	if _, err := io.Copy(io.Discard, none.Reader(strings.NewReader("abc"))); err != nil {
		t.Error(err)
	}
}

// TestStartTicks: Start prints a stalled task's line with the real clock,
// and stop ends the goroutine (stop may be called twice).
func TestStartTicks(t *testing.T) {
	var out syncBuffer
	r := New(&out, Interval(20*time.Millisecond), MinTotal(0))
	task := r.Task("upload stalled", 100*mb)
	task.Add(mb)
	stop := r.Start()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "upload stalled: 976.6 KiB of 95.4 MiB (1%)") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	stop()
	if !strings.Contains(out.String(), "upload stalled: 976.6 KiB of 95.4 MiB (1%)") {
		t.Fatalf("no heartbeat line for a stalled task:\n%s", out.String())
	}
	task.Done()
}
