package process

import (
	"os"
	"strconv"
	"syscall"
)

// ProcessRuns reports whether pid is a running (not zombie) process.
func ProcessRuns(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.running()
}

// StartTime exposes startTime to the tests.
func StartTime(pid int) (uint64, error) { return startTime(pid) }

// BecomeSubreaper makes the test binary the child subreaper of everything it launches, so
// detached supervisors and orphaned apps are re-parented to it (and reaped by
// ReapZombieChildren) rather than to a PID 1 that may not reap.
func BecomeSubreaper() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
}

// ReapZombieChildren reaps the ended children of the test binary that are zombies. Tests that
// start children with os/exec must have waited for them first.
func ReapZombieChildren() {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.ppid == self && !st.running() {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}
