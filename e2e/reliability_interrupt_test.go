package e2e

// Cancelling a run while Nix builds (issue 17 item 5): GitHub cancels a
// job with SIGINT, then SIGTERM 7.5 s later, then SIGKILL. The tool asks
// Nix to stop (SIGTERM to its process group) rather than killing it, so
// Nix stops its builders and removes their nix-build-* temp dirs, and the
// run says it was interrupted, nothing else.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

// slowFlake is a flake whose one package's builder starts a five-minute
// sleep, records its own pid and the sleep's, and waits; nonce makes it a derivation no earlier
// run has built.
func slowFlake(pidFile, nonce string) string {
	return fmt.Sprintf(`{
  outputs = { self }: {
    packages.x86_64-linux.slow = builtins.derivation {
      name = "slow";
      system = "x86_64-linux";
      builder = "/bin/sh";
      nonce = %q;
      args = [ "-c" "/bin/sleep 300 & echo $$ $! > %s; wait" ];
    };
  };
}
`, nonce, pidFile)
}

// processGone reports whether pid has exited (no process, or a zombie
// nobody reaps).
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

func TestReliabilityInterruptStopsNixBuild(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, tmp, state := t.TempDir(), t.TempDir(), t.TempDir()
			pidFile := filepath.Join(state, "builder.pid")
			nonce := strconv.FormatInt(time.Now().UnixNano(), 10)
			if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(slowFlake(pidFile, nonce)), 0o644); err != nil {
				t.Fatal(err)
			}
			plan := filepath.Join(dir, "nix-layers.yaml")
			if err := os.WriteFile(plan, []byte("version: 1\nlayers:\n  - name: slow\n    deps: [\".#slow\"]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "build", "--plan", plan, "--output", "oci:"+filepath.Join(state, "oci"))
			cmd.Env = append(os.Environ(), "NIX_CONFIG="+nixfix.NixConfig, "TMPDIR="+tmp)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var pids []int
			for deadline := time.Now().Add(2 * time.Minute); len(pids) == 0; {
				select {
				case err := <-done:
					t.Fatalf("exited before the build started: %v\n%s", err, stderr.String())
				case <-time.After(50 * time.Millisecond):
				}
				if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
					for _, f := range strings.Fields(string(b)) {
						n, _ := strconv.Atoi(f)
						pids = append(pids, n)
					}
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					t.Fatalf("the builder never started:\n%s", stderr.String())
				}
			}
			builds, _ := filepath.Glob(filepath.Join(tmp, "nix-build-*"))
			if len(builds) == 0 {
				t.Fatal("no nix-build-* temp dir under TMPDIR while building: the cleanup check would prove nothing")
			}
			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running 30 s after %s:\n%s", sig, stderr.String())
			}
			stopped := time.Since(start)
			if code := exitCode(err); code != 1 {
				t.Errorf("exit %d after %s, want 1", code, sig)
			}
			out := stderr.String()
			if !strings.Contains(out, "nix-layer-action: interrupted") {
				t.Errorf("does not say it was interrupted:\n%s", out)
			}
			if strings.Contains(out, "failed") {
				t.Errorf("says more than that it was interrupted:\n%s", out)
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "nix-build-*")); len(left) > 0 {
				t.Errorf("Nix's temp dirs left behind: %v", left)
			}
			for i, what := range []string{"the builder", "the builder's sleep"} {
				// Nix SIGKILLs its builder's process group before it exits;
				// on a loaded machine the kernel may take a moment to end
				// them.
				for wait := time.Now().Add(10 * time.Second); !processGone(pids[i]) && time.Now().Before(wait); {
					time.Sleep(20 * time.Millisecond)
				}
				if !processGone(pids[i]) {
					t.Errorf("%s (pid %d) is still running", what, pids[i])
					_ = syscall.Kill(pids[i], syscall.SIGKILL)
				}
			}
			t.Logf("FIGURE interrupt %s: stopped in %s", sig, stopped.Round(time.Millisecond))
		})
	}
}
