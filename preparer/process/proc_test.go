package process

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	line := "4242 (my (odd) app) S 1 4242 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100\n"
	st, err := parseStat([]byte(line))
	require.NoError(t, err)
	require.Equal(t, procStat{state: 'S', ppid: 1, pgrp: 4242, session: 4240, start: 987654}, st)

	_, err = parseStat([]byte("4242 (x) S 1 2"))
	require.Error(t, err)
	_, err = parseStat([]byte("garbage"))
	require.Error(t, err)
}

func TestPidRecordRoundTrip(t *testing.T) {
	for _, r := range []pidRecord{{pid: 12, start: 34}, {pid: 12, start: 34, session: 5}} {
		got, err := parsePidRecord([]byte(r.String()))
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	for _, bad := range []string{"", "12", "x 1", "12 y", "0 1", "1 2 3 4"} {
		_, err := parsePidRecord([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestAliveChecksStartTime(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	start, err := startTime(pid)
	require.NoError(t, err)

	require.True(t, alive(pid, start))
	require.False(t, alive(pid, start+1), "a pid with another start time is another process")
	require.False(t, alive(0, start))
	require.True(t, groupAlive(pidRecord{pid: pid, start: start}))
	require.False(t, groupAlive(pidRecord{pid: pid, start: start - 1}))

	// Signals to a record with the wrong start time are not sent.
	require.NoError(t, signalProcess(pidRecord{pid: pid, start: start + 1}, syscall.SIGKILL))
	require.NoError(t, signalGroup(pidRecord{pid: pid, start: start - 1}, syscall.SIGKILL))
	require.True(t, alive(pid, start))

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.False(t, alive(pid, start))
	require.False(t, groupAlive(pidRecord{pid: pid, start: start}))
}

func TestEntryName(t *testing.T) {
	require.Equal(t, "app__bin_launch", entryName("app", "bin/launch"))
	require.Equal(t, "app__bin_my_thing.sh", entryName("app", "bin/my thing.sh"))
	stdout, stderr := logPaths("/pods/hello", "app", "bin/launch")
	require.Equal(t, "/pods/hello/logs/app-bin_launch.stdout.log", stdout)
	require.Equal(t, "/pods/hello/logs/app-bin_launch.stderr.log", stderr)
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv(map[string]string{"PATH": "/bin", "A": "1"}, map[string]string{"A": "2"}, map[string]string{"B": "3"})
	require.Equal(t, []string{"A=2", "B=3", "PATH=/bin"}, got)
	require.Equal(t, []string{"X=1", envMode + "=run", envDir + "=/d"},
		supervisorEnv([]string{"X=1", envMode + "=start", envDir + "=/old"}, modeRun, "/d"))
}
