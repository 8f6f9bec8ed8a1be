package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// procStat is what the launcher reads from /proc/<pid>/stat.
type procStat struct {
	state   byte
	ppid    int
	pgrp    int
	session int
	start   uint64 // clock ticks after boot, field 22
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses the contents of /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are counted from the last
// ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat: no ')'")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed stat: %d fields after the command", len(f))
	}
	ppid, err0 := strconv.Atoi(string(f[1]))
	pgrp, err1 := strconv.Atoi(string(f[2]))
	session, err2 := strconv.Atoi(string(f[3]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err := errors.Join(err0, err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("malformed stat: %w", err)
	}
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp, session: session, start: start}, nil
}

// running reports whether the process runs: a zombie (Z) or dead (X) one has ended.
func (s procStat) running() bool { return s.state != 'Z' && s.state != 'X' }

// startTime returns the start time of a running process.
func startTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.start, nil
}

// alive reports whether pid is a running process that started at start: the process the pid
// file was written for, not another that the kernel has since given the same pid.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readStat(pid)
	return err == nil && st.running() && st.start == start
}

// groupAlive reports whether the process group led by the process rec names still has a
// running member. When the leader runs, its start time decides. When the leader has exited, a
// member counts only if it is in the leader's session and started no earlier than the leader:
// Linux does not reuse a pid while a group or session of that id has members, so such a member
// belongs to the recorded group.
func groupAlive(rec pidRecord) bool {
	if rec.pid <= 0 {
		return false
	}
	st, err := readStat(rec.pid)
	if err == nil && st.running() {
		// The pid is in use: by the leader, or by another process, in which case the
		// recorded group is gone (its id could not have been reused otherwise).
		return st.start == rec.start
	}
	return len(groupMembers(rec)) > 0
}

// groupMembers returns the running processes of the group rec leads other than the leader;
// see groupAlive.
func groupMembers(rec pidRecord) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == rec.pid {
			continue
		}
		st, err := readStat(pid)
		if err != nil || !st.running() || st.pgrp != rec.pid || st.start < rec.start {
			continue
		}
		if rec.session > 0 && st.session != rec.session {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// signalProcess sends sig to the recorded process if it is still the process recorded.
func signalProcess(rec pidRecord, sig syscall.Signal) error {
	if !alive(rec.pid, rec.start) {
		return nil
	}
	return ignoreESRCH(syscall.Kill(rec.pid, sig))
}

// signalGroup sends sig to the process group led by the recorded process while the group is
// still the one recorded (see groupAlive).
func signalGroup(rec pidRecord, sig syscall.Signal) error {
	if !groupAlive(rec) {
		return nil
	}
	return ignoreESRCH(syscall.Kill(-rec.pid, sig))
}

func ignoreESRCH(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// signalNames names the signals that commonly end a process.
var signalNames = map[syscall.Signal]string{
	syscall.SIGABRT: "SIGABRT", syscall.SIGALRM: "SIGALRM", syscall.SIGBUS: "SIGBUS",
	syscall.SIGFPE: "SIGFPE", syscall.SIGHUP: "SIGHUP", syscall.SIGILL: "SIGILL",
	syscall.SIGINT: "SIGINT", syscall.SIGKILL: "SIGKILL", syscall.SIGPIPE: "SIGPIPE",
	syscall.SIGQUIT: "SIGQUIT", syscall.SIGSEGV: "SIGSEGV", syscall.SIGSYS: "SIGSYS",
	syscall.SIGTERM: "SIGTERM", syscall.SIGTRAP: "SIGTRAP", syscall.SIGUSR1: "SIGUSR1",
	syscall.SIGUSR2: "SIGUSR2", syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ",
}

func signalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}
