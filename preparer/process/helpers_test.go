package process_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

const (
	waitFor  = 10 * time.Second
	pollTick = 10 * time.Millisecond
	artifact = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
)

// pod is a test pod: an install directory with scripts, a work directory the scripts write
// to, and a manifest.
type pod struct {
	t       *testing.T
	root    string // the pod root
	install string
	work    string
	m       *manifest.Manifest
}

// newPod returns a pod "hello" whose launchable "app" runs the script under the entry point
// bin/launch.
func newPod(t *testing.T, root, script string) *pod {
	t.Helper()
	p := &pod{t: t, root: root, install: t.TempDir(), work: t.TempDir()}
	p.m = &manifest.Manifest{
		ID: "hello",
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       "file:///srv/artifacts/hello_1.tar.gz",
			Digest:         artifact,
			Env:            map[string]string{"WORK": p.work},
		}},
		TerminationGracePeriod: 5,
	}
	p.script("app", manifest.DefaultEntryPoint, script)
	return p
}

// script writes an executable shell script at the launchable's entry point.
func (p *pod) script(launchable, entryPoint, body string) {
	path := filepath.Join(p.install, launchable, entryPoint)
	require.NoError(p.t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(p.t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
}

// update changes the app launchable.
func (p *pod) update(f func(*manifest.Launchable)) {
	l := p.m.Launchables["app"]
	f(&l)
	p.m.Launchables["app"] = l
}

func (p *pod) digest() string {
	d, err := p.m.Digest()
	require.NoError(p.t, err)
	return d
}

// pids reads the pids the scripts appended to work/<name>, one a line.
func (p *pod) pids(name string) []int {
	b, err := os.ReadFile(filepath.Join(p.work, name))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		require.NoError(p.t, err)
		pids = append(pids, n)
	}
	return pids
}

// newLauncher returns a Launcher over root with short restart backoff. Every pod the test
// launches is stopped when it ends and its processes are checked to be gone.
func newLauncher(t *testing.T, root string) *process.Launcher {
	return process.New(root, process.WithLogger(zaptest.NewLogger(t)),
		process.WithRestartBackoff(20*time.Millisecond, 200*time.Millisecond))
}

// cleanupPod stops the pod on test end with its own Launcher, then checks that every pid the
// test saw is gone and reaps what ended.
func cleanupPod(t *testing.T, root, podID string, seen func() []int) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, process.New(root).Stop(ctx, podID, time.Second))
		for _, pid := range seen() {
			require.False(t, process.ProcessRuns(pid), "pid %d left running", pid)
		}
		process.ReapZombieChildren()
	})
}

// started waits until the pod's single process runs and its script has written its pid to
// work/pids, and returns it.
func (p *pod) started(l *process.Launcher) process.Process {
	p.t.Helper()
	var got process.Process
	require.Eventually(p.t, func() bool {
		procs, err := l.Describe(p.m.ID)
		require.NoError(p.t, err)
		if len(procs) != 1 || !procs[0].Running {
			return false
		}
		got = procs[0]
		pids := p.pids("pids")
		return len(pids) > 0 && pids[len(pids)-1] == got.PID
	}, waitFor, pollTick)
	return got
}

// gone waits until none of pids runs.
func gone(t *testing.T, pids ...int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if process.ProcessRuns(pid) {
				return false
			}
		}
		return true
	}, waitFor, pollTick, "pids %v still run", pids)
}
