package main

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// becomeSubreaper makes the quickstart the parent of the supervisors its
// preparers detach, so that it can reap them before it exits instead of
// leaving them to an init that may not.
func becomeSubreaper() {
	const prSetChildSubreaper = 36
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
}

// reapChildren reaps every child that has exited; it leaves running ones.
func reapChildren() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// runningChildren counts this process's children that still run.
func runningChildren() int {
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == self && f[0] != "Z" {
			n++
		}
	}
	return n
}

// reapDetached reaps the children that have exited and ran in a session of
// their own: the supervisors the preparers detach (each starts a new
// session), which the quickstart adopted as their subreaper. Children it
// started itself (hooks, a supervisor's short-lived start-up process) share
// its session and are left to the code that waits for them. It returns how
// many it reaped.
func reapDetached() int {
	self := os.Getpid()
	me, ok := readStat(self)
	if !ok {
		return 0
	}
	ownSession := me.session
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.ppid != self || st.state != "Z" || st.session == ownSession {
			continue
		}
		var ws syscall.WaitStatus
		if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err == nil && got == pid {
			n++
		}
	}
	return n
}

// procStat is what reapDetached needs of /proc/<pid>/stat.
type procStat struct {
	state   string
	ppid    int
	session int
}

func readStat(pid int) (procStat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	// After the command: state, ppid, pgrp, session, ...
	f := strings.Fields(s[i+1:])
	if len(f) < 4 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	session, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return procStat{}, false
	}
	return procStat{state: f[0], ppid: ppid, session: session}, true
}

// reapLoop reaps detached children (see reapDetached) on every SIGCHLD, and
// every second in case a signal was merged, until ctx ends; so a quickstart
// that runs on with --keep gathers no zombies as supervisors come and go.
func reapLoop(ctx context.Context) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		reapDetached()
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-t.C:
		}
	}
}
