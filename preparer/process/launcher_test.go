package process_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

func TestLaunchRunsEntryPointWithEnvAndLogs(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"
pwd > "$WORK/cwd"
env > "$WORK/env.tmp" && mv "$WORK/env.tmp" "$WORK/env"
echo "to stdout"
echo "to stderr" >&2
exec sleep 1000`)
	p.update(func(l *manifest.Launchable) { l.Env["GREETING"] = "hi there" })
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	l := process.New(root, process.WithLogger(zaptest.NewLogger(t)),
		process.WithEnv(map[string]string{"P2_NODE": "web1", "GREETING": "overridden by the launchable"}))
	ctx := context.Background()

	require.NoError(t, l.Launch(ctx, p.m, p.install))
	proc := p.started(l)
	require.Equal(t, "app", proc.Launchable)
	require.Equal(t, "bin/launch", proc.EntryPoint)
	require.True(t, proc.Supervised)
	require.Nil(t, proc.LastExit)
	require.Equal(t, []int{proc.PID}, p.pids("pids"), "the recorded pid is the app's")

	digest, ok := l.Running("hello")
	require.True(t, ok)
	require.Equal(t, p.digest(), digest)
	pods, err := l.Pods()
	require.NoError(t, err)
	require.Equal(t, []string{"hello"}, pods)
	statuses, err := l.Processes("hello")
	require.NoError(t, err)
	require.Equal(t, proc.Process, statuses[0])

	// The app's environment.
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(p.work, "env")); return err == nil }, waitFor, pollTick)
	b, err := os.ReadFile(filepath.Join(p.work, "env"))
	require.NoError(t, err)
	env := string(b)
	for _, want := range []string{
		"GREETING=hi there",
		"P2_NODE=web1",
		"POD_ID=hello",
		"POD_HOME=" + filepath.Join(root, "hello"),
		"LAUNCHABLE_ID=app",
		"LAUNCHABLE_ROOT=" + filepath.Join(p.install, "app"),
		"CONFIG_PATH=" + filepath.Join(p.install, "config.json"),
		"P2_MANIFEST_DIGEST=" + p.digest(),
		"PATH=",
	} {
		require.Contains(t, env, want+"")
	}
	require.NotContains(t, env, "P2KIT_SUPERVISE", "supervisor variables must not reach the app")
	cwd, err := os.ReadFile(filepath.Join(p.work, "cwd"))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(p.install, "app"), strings.TrimSpace(string(cwd)))

	// The logs.
	logs := filepath.Join(root, "hello", "logs")
	require.Eventually(t, func() bool {
		out, _ := os.ReadFile(filepath.Join(logs, "app-bin_launch.stdout.log"))
		errs, _ := os.ReadFile(filepath.Join(logs, "app-bin_launch.stderr.log"))
		return string(out) == "to stdout\n" && string(errs) == "to stderr\n"
	}, waitFor, pollTick)

	// The state on disk.
	state := filepath.Join(root, "hello", "processes", "app__bin_launch")
	for _, f := range []string{"supervisor.pid", "app.pid", "spec.json"} {
		require.FileExists(t, filepath.Join(state, f))
	}
	appPid, err := os.ReadFile(filepath.Join(state, "app.pid"))
	require.NoError(t, err)
	start, err := process.StartTime(proc.PID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(appPid), strconv.Itoa(proc.PID)+" "+strconv.FormatUint(start, 10)),
		"app.pid %q holds the pid and its start time", appPid)
}

func TestRestartPolicyAlwaysRestartsKilledApp(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exec sleep 1000`)
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	first := p.started(l)

	require.NoError(t, syscall.Kill(first.PID, syscall.SIGKILL))
	var second process.Process
	require.Eventually(t, func() bool {
		procs, err := l.Describe("hello")
		require.NoError(t, err)
		second = procs[0]
		return second.Running && second.PID != first.PID && len(p.pids("pids")) == 2
	}, waitFor, pollTick)
	require.Equal(t, 1, second.Restarts)
	require.NotNil(t, second.LastExit)
	require.Equal(t, -1, second.LastExit.Code)
	require.Equal(t, "SIGKILL", second.LastExit.Signal)
	require.WithinDuration(t, time.Now(), second.LastExit.At, time.Minute)
	require.Equal(t, []int{first.PID, second.PID}, p.pids("pids"))
	gone(t, first.PID)
}

func TestRestartPolicyAlwaysBacksOff(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exit 1`)
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	l := newLauncher(t, root)
	start := time.Now()
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	// Waits of 20, 40, 80, 160 and 200ms before the fifth restart: at least 500ms.
	require.Eventually(t, func() bool { return len(p.pids("pids")) >= 6 }, waitFor, pollTick)
	require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond)
	procs, err := l.Describe("hello")
	require.NoError(t, err)
	require.GreaterOrEqual(t, procs[0].Restarts, 5)
	require.Equal(t, 1, procs[0].LastExit.Code)
}

func TestRestartPolicyNeverLeavesAppEnded(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exit 3`)
	p.update(func(l *manifest.Launchable) { l.RestartPolicy = manifest.RestartNever })
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))

	var proc process.Process
	require.Eventually(t, func() bool {
		procs, err := l.Describe("hello")
		require.NoError(t, err)
		proc = procs[0]
		return proc.LastExit != nil && !proc.Supervised
	}, waitFor, pollTick)
	require.False(t, proc.Running)
	require.Zero(t, proc.PID)
	require.Zero(t, proc.Restarts)
	require.Equal(t, 3, proc.LastExit.Code)
	require.Empty(t, proc.LastExit.Signal)

	// The pod still counts as running its version, so launching it again starts nothing.
	digest, ok := l.Running("hello")
	require.True(t, ok)
	require.Equal(t, p.digest(), digest)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	procs, err := l.Describe("hello")
	require.NoError(t, err)
	require.False(t, procs[0].Supervised)
	require.Len(t, p.pids("pids"), 1)
}

func TestStopEndsWholeProcessGroup(t *testing.T) {
	root := t.TempDir()
	// The app leaves a child in its group.
	p := newPod(t, root, `sleep 1000 & echo $! > "$WORK/child"
echo $$ >> "$WORK/pids"; exec sleep 1000`)
	seen := func() []int { return append(p.pids("pids"), p.pids("child")...) }
	cleanupPod(t, root, "hello", seen)
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	proc := p.started(l)
	require.Eventually(t, func() bool { return len(p.pids("child")) == 1 }, waitFor, pollTick)
	child := p.pids("child")[0]
	require.True(t, process.ProcessRuns(child))

	start := time.Now()
	require.NoError(t, l.Stop(context.Background(), "hello", 30*time.Second))
	require.Less(t, time.Since(start), 10*time.Second, "SIGTERM ends the app without waiting for the grace period")
	require.False(t, process.ProcessRuns(proc.PID))
	require.False(t, process.ProcessRuns(child), "the app's child is stopped with it")

	_, ok := l.Running("hello")
	require.False(t, ok)
	pods, err := l.Pods()
	require.NoError(t, err)
	require.Empty(t, pods)
	procs, err := l.Describe("hello")
	require.NoError(t, err)
	require.Empty(t, procs)
	require.NoError(t, l.Stop(context.Background(), "hello", time.Second), "stopping a stopped pod")
}

func TestStopKillsAppIgnoringTerm(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `trap '' TERM
sleep 1000 & echo $! > "$WORK/child"
echo $$ >> "$WORK/pids"; exec sleep 1000`)
	seen := func() []int { return append(p.pids("pids"), p.pids("child")...) }
	cleanupPod(t, root, "hello", seen)
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	proc := p.started(l)
	require.Eventually(t, func() bool { return len(p.pids("child")) == 1 }, waitFor, pollTick)

	const grace = 500 * time.Millisecond
	start := time.Now()
	require.NoError(t, l.Stop(context.Background(), "hello", grace))
	require.GreaterOrEqual(t, time.Since(start), grace, "the app is given its grace period")
	require.False(t, process.ProcessRuns(proc.PID))
	require.False(t, process.ProcessRuns(p.pids("child")[0]))
}

func TestStopKillsAtOnceWhenContextEnds(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `trap '' TERM; echo $$ >> "$WORK/pids"; exec sleep 1000`)
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	proc := p.started(l)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.NoError(t, l.Stop(ctx, "hello", time.Hour))
	require.Less(t, time.Since(start), 10*time.Second)
	require.False(t, process.ProcessRuns(proc.PID))
}

func TestNewLauncherAdoptsRunningPod(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exec sleep 1000`)
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	a := newLauncher(t, root)
	require.NoError(t, a.Launch(context.Background(), p.m, p.install))
	before := p.started(a)
	// a is dropped without Stop, as when the preparer exits.

	b := newLauncher(t, root)
	pods, err := b.Pods()
	require.NoError(t, err)
	require.Equal(t, []string{"hello"}, pods)
	digest, ok := b.Running("hello")
	require.True(t, ok)
	require.Equal(t, p.digest(), digest)
	require.NoError(t, b.Launch(context.Background(), p.m, p.install))
	after := p.started(b)
	require.Equal(t, before.PID, after.PID, "launching the running version restarts nothing")
	require.Len(t, p.pids("pids"), 1)

	require.NoError(t, b.Stop(context.Background(), "hello", time.Second))
	gone(t, before.PID)
}

// TestAppsSurviveLauncherKilled runs the launch in another process, kills that process with
// SIGKILL, and adopts the pod from this one.
func TestAppsSurviveLauncherKilled(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exec sleep 1000`)
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	exe, err := os.Executable()
	require.NoError(t, err)
	arg, err := json.Marshal(helperArgs{Root: root, InstallDir: p.install, Manifest: p.m})
	require.NoError(t, err)
	helper := exec.Command(exe)
	helper.Env = append(os.Environ(), envHelper+"="+string(arg))
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, helper.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "launched\n", line)

	l := newLauncher(t, root)
	before := p.started(l)
	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	require.Error(t, helper.Wait())

	digest, ok := l.Running("hello")
	require.True(t, ok)
	require.Equal(t, p.digest(), digest)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	after := p.started(l)
	require.Equal(t, before.PID, after.PID)
	require.True(t, after.Supervised)
	require.Len(t, p.pids("pids"), 1)
}

// TestLaunchAdoptsOrphanedApp: when a supervisor dies but its app runs on, launching the pod
// again gives the app a new supervisor instead of a second copy.
func TestLaunchAdoptsOrphanedApp(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exec sleep 1000`)
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	before := p.started(l)

	supPid := readPidFile(t, filepath.Join(root, "hello", "processes", "app__bin_launch", "supervisor.pid"))
	require.NoError(t, syscall.Kill(supPid, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		procs, err := l.Describe("hello")
		require.NoError(t, err)
		return !procs[0].Supervised && procs[0].Running && procs[0].PID == before.PID
	}, waitFor, pollTick)
	process.ReapZombieChildren()

	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	after := p.started(l)
	require.True(t, after.Supervised)
	require.Equal(t, before.PID, after.PID)
	require.Len(t, p.pids("pids"), 1)

	// The new supervisor notices when the adopted app ends and restarts it.
	require.NoError(t, syscall.Kill(before.PID, syscall.SIGKILL))
	require.Eventually(t, func() bool { return len(p.pids("pids")) == 2 }, waitFor, pollTick)
	procs, err := l.Describe("hello")
	require.NoError(t, err)
	require.NotNil(t, procs[0].LastExit)
	require.Equal(t, -1, procs[0].LastExit.Code)
}

// TestLaunchCompletesPartialLaunch: a launch cut short (the preparer killed mid-launch) is
// completed by the next, which leaves what already runs alone.
func TestLaunchCompletesPartialLaunch(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exec sleep 1000`)
	p.script("app", "bin/worker", `echo $$ >> "$WORK/workers"; exec sleep 1000`)
	p.update(func(l *manifest.Launchable) { l.EntryPoints = []string{"bin/launch", "bin/worker"} })
	cleanupPod(t, root, "hello", func() []int { return append(p.pids("pids"), p.pids("workers")...) })
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	require.Eventually(t, func() bool { return len(p.pids("pids")) == 1 && len(p.pids("workers")) == 1 }, waitFor, pollTick)
	launchPid := p.pids("pids")[0]

	// Undo the worker's start, as if the launcher had died before it.
	worker := filepath.Join(root, "hello", "processes", "app__bin_worker")
	require.NoError(t, syscall.Kill(readPidFile(t, filepath.Join(worker, "supervisor.pid")), syscall.SIGTERM))
	gone(t, p.pids("workers")...)
	require.Eventually(t, func() bool {
		procs, err := l.Describe("hello")
		require.NoError(t, err)
		return !procs[1].Supervised
	}, waitFor, pollTick)
	require.NoError(t, os.RemoveAll(worker))
	_, ok := l.Running("hello")
	require.False(t, ok, "a pod missing an entry point is not running")

	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	require.Eventually(t, func() bool { return len(p.pids("workers")) == 2 }, waitFor, pollTick)
	_, ok = l.Running("hello")
	require.True(t, ok)
	require.Equal(t, []int{launchPid}, p.pids("pids"), "the running entry point was left alone")
	require.True(t, process.ProcessRuns(launchPid))
}

func TestLaunchNewDigestReplacesOld(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `echo $$ >> "$WORK/pids"; exec sleep 1000`)
	cleanupPod(t, root, "hello", func() []int { return p.pids("pids") })
	l := newLauncher(t, root)
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	old := p.started(l)
	oldDigest := p.digest()

	p.update(func(l *manifest.Launchable) { l.Env["VERSION"] = "2" })
	require.NotEqual(t, oldDigest, p.digest())
	require.NoError(t, l.Launch(context.Background(), p.m, p.install))
	require.False(t, process.ProcessRuns(old.PID), "the old version is stopped before the new one starts")
	cur := p.started(l)
	require.NotEqual(t, old.PID, cur.PID)
	require.Zero(t, cur.Restarts)
	digest, ok := l.Running("hello")
	require.True(t, ok)
	require.Equal(t, p.digest(), digest)
}

func TestStopNeverSignalsReusedPid(t *testing.T) {
	root := t.TempDir()
	// An unrelated process (a group leader, like an app) holds the pid the files name, but
	// started at another time: the pid was reused.
	other := exec.Command("sleep", "1000")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, other.Start())
	t.Cleanup(func() {
		_ = other.Process.Kill()
		_ = other.Wait()
	})
	pid := other.Process.Pid
	start, err := process.StartTime(pid)
	require.NoError(t, err)

	dir := filepath.Join(root, "hello", "processes", "app__bin_launch")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "hello", "processes", "pod.json"),
		[]byte(`{"pod":"hello","manifest_digest":"x","grace_ns":1000000,"entries":["app__bin_launch"]}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "spec.json"),
		[]byte(`{"pod":"hello","launchable":"app","entry_point":"bin/launch"}`), 0o644))
	for _, f := range []string{"supervisor.pid", "app.pid"} {
		rec := strconv.Itoa(pid) + " " + strconv.FormatUint(start-1, 10) + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(rec), 0o644))
	}

	l := newLauncher(t, root)
	_, ok := l.Running("hello")
	require.False(t, ok)
	procs, err := l.Describe("hello")
	require.NoError(t, err)
	require.Len(t, procs, 1)
	require.False(t, procs[0].Running)
	require.False(t, procs[0].Supervised)
	require.Zero(t, procs[0].PID)

	require.NoError(t, l.Stop(context.Background(), "hello", 100*time.Millisecond))
	require.True(t, process.ProcessRuns(pid), "a reused pid must never be signalled")
	st, err := process.StartTime(pid)
	require.NoError(t, err)
	require.Equal(t, start, st)
	require.NoDirExists(t, filepath.Join(root, "hello", "processes"))
}

func TestLaunchRefusesBadInput(t *testing.T) {
	root := t.TempDir()
	p := newPod(t, root, `exec sleep 1000`)
	l := newLauncher(t, root)
	ctx := context.Background()

	require.Error(t, l.Launch(ctx, nil, p.install))

	bad := p.m.Clone()
	bad.ID = "Not/An/Id"
	require.Error(t, l.Launch(ctx, bad, p.install))

	missing := p.m.Clone()
	l2 := missing.Launchables["app"]
	l2.EntryPoints = []string{"bin/missing"}
	missing.Launchables["app"] = l2
	err := l.Launch(ctx, missing, p.install)
	require.ErrorContains(t, err, "pod hello launchable app entry point bin/missing")

	p.script("app", "bin/notexec", "exit 0")
	require.NoError(t, os.Chmod(filepath.Join(p.install, "app", "bin/notexec"), 0o644))
	notExec := p.m.Clone()
	l3 := notExec.Launchables["app"]
	l3.EntryPoints = []string{"bin/notexec"}
	notExec.Launchables["app"] = l3
	require.ErrorContains(t, l.Launch(ctx, notExec, p.install), "not executable")

	require.Error(t, l.Stop(ctx, "Not/An/Id", time.Second))
	pods, err := l.Pods()
	require.NoError(t, err)
	require.Empty(t, pods, "a refused launch leaves no state")
}

func readPidFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.Fields(string(b))[0])
	require.NoError(t, err)
	return pid
}
