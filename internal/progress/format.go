package progress

import (
	"fmt"
	"time"

	"github.com/org/nix-layer-action/internal/bytesize"
)

// quarter is how many quarters of total done has reached (0..4); 0 for an
// unknown total.
func quarter(done, total int64) int {
	if total <= 0 {
		return 0
	}
	if done >= total {
		return 4
	}
	return int(done * 4 / total)
}

// quarterBytes is the byte count of quarter q of total (rounded up, so that
// reaching it means quarter(…) >= q).
func quarterBytes(q int, total int64) int64 {
	return (total*int64(q) + 3) / 4
}

// percent is done/total in whole percent, at most 100.
func percent(done, total int64) int64 {
	if done >= total {
		return 100
	}
	return done * 100 / total
}

// rate is the average rate in bytes per second, 0 when too early to say.
func rate(done int64, elapsed time.Duration) float64 {
	if elapsed < time.Millisecond || done <= 0 {
		return 0
	}
	return float64(done) / elapsed.Seconds()
}

func formatRate(bps float64) string { return fmt.Sprintf("%.1f MB/s", bps/1e6) }

// eta is the time left at the average rate so far; ok is false when it
// cannot be estimated yet.
func eta(done, total int64, elapsed time.Duration) (time.Duration, bool) {
	bps := rate(done, elapsed)
	if total <= 0 || bps == 0 {
		return 0, false
	}
	left := max(total-done, 0)
	return time.Duration(float64(left) / bps * float64(time.Second)), true
}

// formatDuration writes "0.4s", "12.3s", "2m05s", "1h02m".
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// logLine is a task's progress line in log mode:
// "build cuda: 2.1 GiB of 9.0 GiB (23%), 52.3 MB/s, ETA 2m12s".
func logLine(name string, done, total int64, elapsed time.Duration) string {
	s := name + ": " + bytesize.Format(done)
	if total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", bytesize.Format(total), percent(done, total))
	}
	if bps := rate(done, elapsed); bps > 0 {
		s += ", " + formatRate(bps)
	}
	if left, ok := eta(done, total, elapsed); ok {
		s += ", ETA " + formatDuration(left)
	}
	return s
}

// finalLine is a finished task's line:
// "build cuda: 9.0 GiB (100%) in 40.1s, 224.0 MB/s", or without "(100%)"
// when the total was unknown or not reached.
func finalLine(name string, done, total int64, elapsed time.Duration) string {
	s := name + ": " + bytesize.Format(done)
	if total > 0 {
		s += fmt.Sprintf(" (%d%%)", percent(done, total))
	}
	s += " in " + formatDuration(elapsed)
	if bps := rate(done, elapsed); bps > 0 {
		s += ", " + formatRate(bps)
	}
	return s
}

// liveItem is a task's part of the live terminal line:
// "build cuda 23% 2.1 GiB/9.0 GiB 52.3 MB/s ETA 2m12s".
func liveItem(name string, done, total int64, elapsed time.Duration) string {
	s := name
	if total > 0 {
		s += fmt.Sprintf(" %d%% %s/%s", percent(done, total), bytesize.Format(done), bytesize.Format(total))
	} else {
		s += " " + bytesize.Format(done)
	}
	if bps := rate(done, elapsed); bps > 0 {
		s += " " + formatRate(bps)
	}
	if left, ok := eta(done, total, elapsed); ok && done < total {
		s += " ETA " + formatDuration(left)
	}
	return s
}
