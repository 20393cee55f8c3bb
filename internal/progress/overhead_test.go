package progress

import (
	"bytes"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// copySize is the size of the in-memory copy the overhead is measured on.
const copySize = 1_000_000_000

// overheadRounds is how many interleaved rounds of each copy the overhead
// test times; it keeps the best of each.
const overheadRounds = 9

// onlyReader hides bytes.Reader's WriteTo, so that io.Copy reads it 32 KiB
// at a time into its own buffer, as it reads a file.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// source returns the 1 GB the copies read, allocated once per test binary.
var source = sync.OnceValue(func() []byte {
	b := make([]byte, copySize)
	for i := 0; i < len(b); i += 4096 {
		b[i] = byte(i >> 12)
	}
	return b
})

// sink discards writes; it has no ReadFrom, so io.Copy uses its own buffer.
type sink struct{}

func (sink) Write(p []byte) (int, error) { return len(p), nil }

func plainCopy(tb testing.TB) time.Duration {
	start := time.Now()
	if _, err := io.Copy(sink{}, onlyReader{bytes.NewReader(source())}); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

func countedCopy(tb testing.TB, r *Reporter) (time.Duration, *Task) {
	task := r.Task("build big", copySize)
	start := time.Now()
	if _, err := io.Copy(sink{}, task.Reader(onlyReader{bytes.NewReader(source())})); err != nil {
		tb.Fatal(err)
	}
	d := time.Since(start)
	task.Done()
	return d, task
}

// TestLargeCopyThroughReader wires a Reader into a 1 GB io.Copy: every byte
// is counted and the log shows the three quarters and the end. It then
// checks that the Reader adds less than 2 % to the copy. Two ~50 ms copies
// differ by more than that on a busy machine, so the overhead is measured
// where it arises: the extra time per 32 KiB Read call (best of several
// runs of a Read that copies nothing), times the calls of the copy, against
// the best time of the plain copy. The direct comparison is logged too, and
// BenchmarkCopy shows it.
func TestLargeCopyThroughReader(t *testing.T) {
	if testing.Short() {
		t.Skip("copies several GB")
	}
	var out strings.Builder
	r := New(&out, MinTotal(0), Interval(time.Hour))
	_, task := countedCopy(t, r)
	if task.Bytes() != copySize {
		t.Fatalf("counted %d of %d bytes", task.Bytes(), copySize)
	}
	got := lines(out.String())
	if len(got) != 4 || !strings.Contains(got[0], "(25%)") || !strings.Contains(got[1], "(50%)") ||
		!strings.Contains(got[2], "(75%)") || !strings.Contains(got[3], "(100%) in ") {
		t.Errorf("log of a 1 GB copy:\n%s", out.String())
	}
	if raceEnabled {
		t.Log("race detector on: overhead not measured")
		return
	}
	plain, counted := time.Duration(1<<62), time.Duration(1<<62)
	for range overheadRounds {
		plain = min(plain, plainCopy(t))
		d, _ := countedCopy(t, New(io.Discard, MinTotal(0)))
		counted = min(counted, d)
	}
	perCall := readCallCost(true) - readCallCost(false)
	calls := float64(copySize) / copyBuf
	overhead := perCall * calls / float64(plain.Nanoseconds())
	t.Logf("1 GB copy: plain %v, through Reader %v (direct: %+.2f%%); Reader costs %.1f ns per 32 KiB Read: overhead %.2f%%",
		plain, counted, 100*float64(counted-plain)/float64(plain), perCall, overhead*100)
	if overhead > 0.02 {
		t.Errorf("Reader overhead %.2f%% on a 1 GB in-memory copy (%.1f ns per Read, plain copy %v), want < 2%%", overhead*100, perCall, plain)
	}
}

// copyBuf is io.Copy's buffer size: the bytes per Read call.
const copyBuf = 32 << 10

// nopReader fills nothing: Read calls through it cost only the calls.
type nopReader struct{}

func (nopReader) Read(p []byte) (int, error) { return len(p), nil }

// readCallCost is the best ns per 32 KiB Read call over several runs, with
// or without a counting Reader around a Read that copies nothing.
func readCallCost(counted bool) float64 {
	const calls = 1 << 21
	best := math.Inf(1)
	for range overheadRounds {
		var rd io.Reader = nopReader{}
		if counted {
			rd = New(io.Discard, MinTotal(0)).Task("x", 0).Reader(rd)
		}
		buf := make([]byte, copyBuf)
		start := time.Now()
		for range calls {
			rd.Read(buf)
		}
		best = min(best, float64(time.Since(start).Nanoseconds())/calls)
	}
	return best
}

// BenchmarkCopy compares a 1 GB in-memory io.Copy with and without a
// counting Reader (go test -run X -bench Copy ./internal/progress).
func BenchmarkCopy(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(copySize)
		for b.Loop() {
			plainCopy(b)
		}
	})
	b.Run("reader", func(b *testing.B) {
		b.SetBytes(copySize)
		r := New(io.Discard, MinTotal(0))
		for b.Loop() {
			countedCopy(b, r)
		}
	})
}

// BenchmarkAdd is the cost of one Add on the fast path, from all CPUs at once.
func BenchmarkAdd(b *testing.B) {
	task := New(io.Discard, MinTotal(0)).Task("x", 0)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			task.Add(1)
		}
	})
}
