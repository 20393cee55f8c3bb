//go:build unix

package closure

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stubbornNix records the signal it gets, starts a child in its process
// group, and ignores SIGTERM.
const stubbornNix = `#!/bin/sh
trap 'echo TERM >> "$STATE/signals"' TERM
/bin/sleep 120 &
echo $! > "$STATE/child"
while :; do wait; done
`

// TestNixCancelStopsThenKills: cancelling a run sends Nix's process
// group SIGTERM at once and kills it (and its children) after the grace
// period when it does not stop; the error is the context's.
func TestNixCancelStopsThenKills(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "nix")
	if err := os.WriteFile(bin, []byte(stubbornNix), 0o755); err != nil {
		t.Fatal(err)
	}
	n := &Nix{Bin: bin, Env: []string{"STATE=" + dir}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(dir, "child")); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	_, _, err := n.run(ctx, []string{"build"})
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if took < interruptGrace || took > interruptGrace+5*time.Second {
		t.Errorf("returned after %s, want the grace period %s", took, interruptGrace)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "signals")); !strings.Contains(string(b), "TERM") {
		t.Error("Nix was not sent SIGTERM")
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	time.Sleep(100 * time.Millisecond)
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && stat[i+2] != 'Z' {
			t.Errorf("Nix's child %d survived: %s", pid, stat)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestNixCancelQuickExit: a Nix that stops on SIGTERM ends the call at
// once, not after the grace period.
func TestNixCancelQuickExit(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "nix")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho started > \"$STATE/child\"\nexec /bin/sleep 120\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := &Nix{Bin: bin, Env: []string{"STATE=" + dir}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(dir, "child")); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	_, _, err := n.run(ctx, []string{"build"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s to stop a Nix that exits on SIGTERM", took)
	}
}

// TestNixOutputHeldOpen: a Nix that exits 0 while something it started
// still holds its output open ends the call within the grace period, with
// what Nix printed and no error.
func TestNixOutputHeldOpen(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "nix")
	script := "#!/bin/sh\n/bin/sleep 30 &\necho \"$!\" > \"$STATE/child\"\necho '[]'\nexit 0\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n := &Nix{Bin: bin, Env: []string{"STATE=" + dir}}
	start := time.Now()
	out, _, err := n.run(context.Background(), []string{"build"})
	if took := time.Since(start); took > interruptGrace+5*time.Second {
		t.Errorf("took %s", took)
	}
	if err != nil || strings.TrimSpace(string(out)) != "[]" {
		t.Errorf("output %q, error %v; want [] and no error", out, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "child")); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
