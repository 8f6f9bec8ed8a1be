package preparer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// envDiskNS marks a test binary re-executed in a user and mount namespace of
// its own, where it may mount a small tmpfs as the pod root.
const envDiskNS = "P2KIT_PREPARER_TEST_DISK_NS"

// inDiskNamespace runs the calling test again in a new user and mount
// namespace and reports false; in that namespace it reports true and the
// test goes on. Where namespaces cannot be made the test is skipped.
func inDiskNamespace(t *testing.T) bool {
	if os.Getenv(envDiskNS) != "" {
		// Mounts made here must not leak into the namespace copied.
		require.NoError(t, syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""), "make / private")
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envDiskNS+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Skipf("skipped: a user and mount namespace, needed to mount a small tmpfs as the pod root without privileges, cannot be made here: %v", err)
	}
	err := cmd.Wait()
	t.Logf("in a user and mount namespace:\n%s", out.String())
	require.NoError(t, err, "the test in its namespace failed")
	return false
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and returns it.
func mountTmpfs(t *testing.T, size string) string {
	dir := t.TempDir()
	require.NoError(t, syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"), "mount tmpfs")
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// onTmpfs is a real node whose pod root is a tmpfs of size.
func onTmpfs(t *testing.T, size string) *realNode {
	n := newRealNode(t)
	n.root = mountTmpfs(t, size)
	// Runs before the unmount: stop the apps on the tmpfs.
	t.Cleanup(func() {
		l := process.New(n.root)
		pods, _ := l.Pods()
		for _, pod := range pods {
			_ = l.Stop(context.Background(), pod, time.Second)
		}
	})
	return n
}

// failedWith waits for the pod's status to say it failed with an error
// that contains each of parts.
func (n *realNode) failedWith(pod string, parts ...string) status.PodStatus {
	return n.waitStatus(pod, func(s status.PodStatus) bool {
		if s.Status != status.Failed {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(s.Error, p) {
				return false
			}
		}
		return true
	})
}

// diskScene installs keep and up (version 1), stops nothing, and returns
// the manifests used by the disk fault tests with keep's app pid.
type diskScene struct {
	keep, up1, up2, fresh, gone *manifest.Manifest
	keepPID, upPID              int
}

func (n *realNode) diskScene() *diskScene {
	t := n.t
	s := &diskScene{keep: sleeper(t, "keep", "1"), up1: sleeper(t, "up", "1"), up2: sleeper(t, "up", "2"),
		fresh: sleeper(t, "fresh", "1"), gone: sleeper(t, "gone", "1")}
	for _, m := range []*manifest.Manifest{s.keep, s.up1, s.gone} {
		n.setIntent(m)
	}
	n.launched("keep", s.keep)
	n.launched("up", s.up1)
	n.launched("gone", s.gone)
	s.keepPID, s.upPID = n.appPID("keep"), n.appPID("up")
	return s
}

// untouched checks that keep still runs its first process, reported as
// launched and passing, and that up's first version still runs.
func (n *realNode) untouched(s *diskScene) {
	t := n.t
	never(t, 500*time.Millisecond, func() bool {
		return !alive(s.keepPID) || !alive(s.upPID)
	}, "an app was stopped by the disk fault")
	st, err := n.statuses.Get(n.ctx(), n.node, "keep")
	require.NoError(t, err)
	require.Equal(t, status.Launched, st.Value.Status)
	require.Equal(t, digest(t, s.keep), st.Value.ManifestDigest)
	require.Equal(t, status.Passing, st.Value.Health)
	require.Equal(t, s.keepPID, st.Value.Processes[0].PID)
	require.Equal(t, digest(t, s.keep), n.realityDigests()["keep"])
	require.Equal(t, digest(t, s.up1), n.realityDigests()["up"], "reality keeps the version that runs")
}

// A pod root with no space left: a new pod and an upgrade fail with a
// status that says so, the apps that run go on untouched, and once space
// is freed everything converges with nothing half-installed.
func TestRealFullPodRoot(t *testing.T) {
	if !inDiskNamespace(t) {
		return
	}
	n := onTmpfs(t, "4m")
	n.self()
	n.start()
	s := n.diskScene()

	// Fill what is left of the pod root.
	filler := filepath.Join(n.root, "filler")
	f, err := os.Create(filler)
	require.NoError(t, err)
	chunk := make([]byte, 64<<10)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	require.True(t, errors.Is(err, syscall.ENOSPC), "filling the pod root: %v", err)
	require.NoError(t, f.Close())

	n.setIntent(s.fresh)
	n.setIntent(s.up2)
	const full = "no space left on device"
	t.Logf("fresh: %s", n.failedWith("fresh", "pod fresh", full).Error)
	t.Logf("up: %s", n.failedWith("up", "pod up", full).Error)
	n.untouched(s)

	require.NoError(t, os.Remove(filler))
	n.launched("fresh", s.fresh)
	n.launched("up", s.up2)
	require.Empty(t, temporaries(t, n.root), "nothing temporary left in the pod root")
	n.launched("keep", s.keep)
	require.Equal(t, s.keepPID, n.appPID("keep"), "keep was never restarted")
}

// A read-only pod root: a new pod, an upgrade and a removal fail with a
// status that says so, the apps that run go on untouched, and once the
// pod root is writable again everything converges.
func TestRealReadOnlyPodRoot(t *testing.T) {
	if !inDiskNamespace(t) {
		return
	}
	n := onTmpfs(t, "16m")
	n.self()
	n.start()
	s := n.diskScene()
	gonePID := n.appPID("gone")

	// A read-only bind mount over the pod root: what runs keeps the files
	// it has open for writing (its logs), as when a file system is
	// remounted read-only after an error; every path opened from now on
	// is read-only.
	require.NoError(t, syscall.Mount(n.root, n.root, "", syscall.MS_BIND, ""), "bind mount")
	require.NoError(t, syscall.Mount("", n.root, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""), "remount read-only")
	readOnly := true
	t.Cleanup(func() {
		if readOnly {
			_ = syscall.Unmount(n.root, syscall.MNT_DETACH)
		}
	})
	n.setIntent(s.fresh)
	n.setIntent(s.up2)
	require.NoError(t, n.intent.Delete(n.ctx(), n.node, "gone"))
	const ro = "read-only file system"
	t.Logf("fresh: %s", n.failedWith("fresh", "pod fresh", ro).Error)
	t.Logf("up: %s", n.failedWith("up", "pod up", ro).Error)
	t.Logf("gone: %s", n.failedWith("gone", "pod gone", ro).Error)
	n.untouched(s)

	require.NoError(t, syscall.Unmount(n.root, syscall.MNT_DETACH), "remove the read-only mount")
	readOnly = false
	n.launched("fresh", s.fresh)
	n.launched("up", s.up2)
	n.waitStatus("gone", func(st status.PodStatus) bool { return st.Status == status.Removed })
	require.Eventually(t, func() bool { return !alive(gonePID) }, waitFor, 20*time.Millisecond)
	require.NotContains(t, n.realityDigests(), "gone")
	require.Empty(t, temporaries(t, n.root), "nothing temporary left in the pod root")
	require.Equal(t, s.keepPID, n.appPID("keep"), "keep was never restarted")
}
