package main

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A child that ran in its own session (a detached supervisor) is reaped
// once it exits; a child of the quickstart's own session is left to the
// code that waits for it.
func TestReapDetached(t *testing.T) {
	detached := exec.Command("/bin/sh", "-c", "exit 0")
	detached.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	require.NoError(t, detached.Start())
	own := exec.Command("/bin/sh", "-c", "exit 3")
	require.NoError(t, own.Start())

	zombie := func(pid int) bool {
		st, ok := readStat(pid)
		return ok && st.state == "Z"
	}
	require.Eventually(t, func() bool { return zombie(detached.Process.Pid) && zombie(own.Process.Pid) },
		30*time.Second, 10*time.Millisecond, "the children never exited")
	// Other tests of this package may have left detached children too.
	require.GreaterOrEqual(t, reapDetached(), 1)
	_, gone := readStat(detached.Process.Pid)
	require.False(t, gone, "the detached child was reaped")
	require.True(t, zombie(own.Process.Pid), "the own-session child is left alone")
	err := own.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "its waiter still gets its exit status")
	require.Equal(t, 3, exit.ExitCode())
	_ = detached.Process.Release()
}
