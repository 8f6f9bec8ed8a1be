package preparer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/hoist"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// launchScript records the app's pid in the pod's home, then sleeps as
// that same process.
const launchScript = "#!/bin/sh\necho $$ > \"$POD_HOME/pid\"\nexec sleep 1000\n"

// realNode is a preparer with the reference installer and launcher.
type realNode struct {
	*env
	root   string
	launch *process.Launcher
}

func newRealNode(t *testing.T) *realNode {
	e := newEnv(t, "web1")
	n := &realNode{env: e, root: t.TempDir()}
	n.launch = process.New(n.root)
	t.Cleanup(func() {
		// Stop whatever is still running, whoever launched it.
		l := process.New(n.root)
		pods, _ := l.Pods()
		for _, pod := range pods {
			_ = l.Stop(context.Background(), pod, time.Second)
		}
	})
	return n
}

func (n *realNode) start() func() {
	return n.run(preparer.Hoist(hoist.New(n.root)), process.New(n.root))
}

// artifactManifest builds an artifact from files and a manifest naming it.
func artifactManifest(t *testing.T, id, version string, files map[string]artifacttest.File) *manifest.Manifest {
	loc, digest, err := artifacttest.Write(filepath.Join(t.TempDir(), id+"_"+version+".tar.gz"), files)
	require.NoError(t, err)
	return &manifest.Manifest{ID: id, Launchables: map[string]manifest.Launchable{"app": {
		LaunchableType: manifest.LaunchableTypeHoist, Location: loc, Digest: digest,
		Env: map[string]string{"VERSION": version}}},
		TerminationGracePeriod: 1}
}

func sleeper(t *testing.T, id, version string) *manifest.Manifest {
	return artifactManifest(t, id, version, map[string]artifacttest.File{
		"bin/launch": {Body: launchScript, Exec: true},
		// Distinct contents per pod: the download cache is keyed by digest.
		"VERSION": {Body: id + " " + version},
	})
}

// appPID waits until the pod's app has written its pid and returns it.
func (n *realNode) appPID(pod string) int {
	n.t.Helper()
	var pid int
	require.Eventually(n.t, func() bool {
		data, err := os.ReadFile(filepath.Join(n.root, pod, "pid"))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && alive(pid)
	}, waitFor, 20*time.Millisecond)
	return pid
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses; Z is a zombie.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func (n *realNode) launched(pod string, m *manifest.Manifest) status.PodStatus {
	return n.waitStatus(pod, func(s status.PodStatus) bool {
		return s.Status == status.Launched && s.ManifestDigest == digest(n.t, m) && s.Health == status.Passing
	})
}

func TestRealInstallUpgradeUninstall(t *testing.T) {
	n := newRealNode(t)
	n.self()
	n.start()

	v1 := sleeper(t, "hello", "1")
	n.setIntent(v1)
	st := n.launched("hello", v1)
	pid1 := n.appPID("hello")
	require.Len(t, st.Processes, 1)
	require.Equal(t, pid1, st.Processes[0].PID)
	require.Equal(t, digest(t, v1), n.realityDigests()["hello"])
	logs, err := os.ReadDir(filepath.Join(n.root, "hello", "logs"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)

	v2 := sleeper(t, "hello", "2")
	n.setIntent(v2)
	n.launched("hello", v2)
	require.Eventually(t, func() bool { return !alive(pid1) }, waitFor, 20*time.Millisecond, "the old version stopped")
	pid2 := n.appPID("hello")
	require.NotEqual(t, pid1, pid2)
	require.Equal(t, digest(t, v2), n.realityDigests()["hello"])
	installs, err := os.ReadDir(filepath.Join(n.root, "hello", "installs"))
	require.NoError(t, err)
	require.Len(t, installs, 1, "the old install is pruned")

	require.NoError(t, n.intent.Delete(n.ctx(), n.node, "hello"))
	n.waitStatus("hello", func(s status.PodStatus) bool { return s.Status == status.Removed })
	require.Eventually(t, func() bool { return !alive(pid2) }, waitFor, 20*time.Millisecond)
	_, err = os.Stat(filepath.Join(n.root, "hello"))
	require.True(t, os.IsNotExist(err), "the pod's directory is gone")
	require.NotContains(t, n.realityDigests(), "hello")
}

func TestRealBadInputIsReportedAndIsolated(t *testing.T) {
	n := newRealNode(t)
	n.self()
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	n.start()

	good := sleeper(t, "good", "1")
	n.setIntent(good)

	wrong := sleeper(t, "wrongdigest", "1")
	l := wrong.Launchables["app"]
	l.Digest = "sha256:" + strings.Repeat("ab", 32)
	wrong.Launchables["app"] = l
	n.setIntent(wrong)

	missing := sleeper(t, "missing", "1")
	l = missing.Launchables["app"]
	l.Location = "file:///nonexistent/missing.tar.gz"
	missing.Launchables["app"] = l
	n.setIntent(missing)

	gone := sleeper(t, "gone", "1")
	l = gone.Launchables["app"]
	l.Location = notFound.URL + "/gone.tar.gz"
	gone.Launchables["app"] = l
	n.setIntent(gone)

	evil := artifactManifest(t, "evil", "1", map[string]artifacttest.File{
		"bin/launch":      {Body: launchScript, Exec: true},
		"../../etc/evil":  {Body: "x"},
		"bin/../../outer": {Body: "x"},
	})
	n.setIntent(evil)

	_, err := n.cli.Put(n.ctx(), "/p2/intent/web1/corrupt", "{not json")
	require.NoError(t, err)

	failed := func(pod string) string {
		return n.waitStatus(pod, func(s status.PodStatus) bool { return s.Status == status.Failed }).Error
	}
	require.Contains(t, failed("wrongdigest"), strings.Repeat("ab", 32))
	require.Contains(t, failed("missing"), "/nonexistent/missing.tar.gz")
	msg := failed("gone")
	require.Contains(t, msg, "/gone.tar.gz")
	require.Contains(t, msg, "404")
	require.Contains(t, failed("evil"), "..")
	require.Contains(t, failed("corrupt"), "/p2/intent/web1/corrupt")

	n.launched("good", good)
	for _, pod := range []string{"wrongdigest", "missing", "gone", "evil", "corrupt"} {
		_, running := n.launch.Running(pod)
		require.False(t, running, pod)
	}
	// The preparer keeps going.
	later := sleeper(t, "later", "1")
	n.setIntent(later)
	n.launched("later", later)
}

func TestRealHangingInstallBlocksNoOtherPod(t *testing.T) {
	n := newRealNode(t)
	n.self()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	n.start()

	slow := sleeper(t, "slow", "1")
	l := slow.Launchables["app"]
	l.Location = hang.URL + "/slow.tar.gz"
	slow.Launchables["app"] = l
	n.setIntent(slow)
	fast := sleeper(t, "fast", "1")
	n.setIntent(fast)
	n.launched("fast", fast)
	_, running := n.launch.Running("slow")
	require.False(t, running)
}

func TestRealRestartKeepsApps(t *testing.T) {
	n := newRealNode(t)
	n.self()
	stop := n.start()
	a, b, c := sleeper(t, "a", "1"), sleeper(t, "b", "1"), sleeper(t, "c", "1")
	for _, m := range []*manifest.Manifest{a, b, c} {
		n.setIntent(m)
	}
	n.launched("a", a)
	n.launched("b", b)
	n.launched("c", c)
	pids := map[string]int{"a": n.appPID("a"), "b": n.appPID("b"), "c": n.appPID("c")}

	stop()
	for pod, pid := range pids {
		require.True(t, alive(pid), "%s survives the preparer", pod)
	}
	n.start()
	n.launched("a", a)

	// Wipe the node's intent: held, nothing uninstalled; restore it:
	// nothing restarted.
	_, err := n.cli.Delete(n.ctx(), "/p2/intent/web1/", clientv3.WithPrefix())
	require.NoError(t, err)
	n.waitHolds(1)
	n.self()
	for _, m := range []*manifest.Manifest{a, b, c} {
		n.setIntent(m)
	}
	n.waitHolds(0)
	never(t, 500*time.Millisecond, func() bool {
		for _, pid := range pids {
			if !alive(pid) {
				return true
			}
		}
		return false
	}, "an app was stopped")
	for pod, pid := range pids {
		require.Equal(t, pid, n.appPID(pod), "%s was restarted", pod)
	}
}

func TestRealKilledMidInstallConverges(t *testing.T) {
	n := newRealNode(t)
	n.self()
	var requests atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	m := sleeper(t, "hello", "1")
	data, err := os.ReadFile(strings.TrimPrefix(m.Launchables["app"].Location, "file://"))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			close(started)
			// The first download hangs until the test ends.
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	l := m.Launchables["app"]
	l.Location = srv.URL + "/hello.tar.gz"
	m.Launchables["app"] = l

	args, err := json.Marshal(childArgs{Endpoints: n.cli.Endpoints(), Node: n.node, PodRoot: n.root})
	require.NoError(t, err)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envChild+"="+string(args))
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	n.setIntent(m)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the child preparer never started the download")
	}
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()

	n.start()
	n.launched("hello", m)
	n.appPID("hello")
	require.Equal(t, digest(t, m), n.realityDigests()["hello"])
}
