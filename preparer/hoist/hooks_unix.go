//go:build unix

package hoist

import (
	"errors"
	"os/exec"
	"syscall"
)

// ownProcessGroup starts the command in a process group of its own and makes cancelling it
// kill the whole group, so that a hook's children do not outlive it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

func isTextBusy(err error) bool {
	return errors.Is(err, syscall.ETXTBSY)
}
