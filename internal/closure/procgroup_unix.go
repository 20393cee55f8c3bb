//go:build unix

package closure

import (
	"os/exec"
	"syscall"
)

// interruptible makes cmd stop the way Nix cleans up after itself when
// its context is cancelled: Nix runs in a process group of its own, and
// cancelling sends the group SIGTERM (Nix's signal handler then kills its
// builders and removes their nix-build-* temp dirs, as on Ctrl-C); only a
// Nix still running interruptGrace later is killed (Wait's WaitDelay).
// A SIGKILL instead would leave the builders running and their temp dirs
// behind.
func interruptible(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return signalGroup(cmd, syscall.SIGTERM) }
	cmd.WaitDelay = interruptGrace
}

// killGroup kills whatever is left of a cancelled Nix's process group.
func killGroup(cmd *exec.Cmd) { _ = signalGroup(cmd, syscall.SIGKILL) }

// signalGroup sends sig to cmd's process group (its pid: Setpgid).
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil || cmd.Process.Pid <= 0 {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}
