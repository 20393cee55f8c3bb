//go:build !unix

package closure

import "os/exec"

// interruptible gives a cancelled Nix interruptGrace to exit after
// exec's default (kill) before Wait gives up on its output.
func interruptible(cmd *exec.Cmd) { cmd.WaitDelay = interruptGrace }

// killGroup does nothing where there are no process groups.
func killGroup(*exec.Cmd) {}
