package preparer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// killPoint names a step of the preparer's work on one pod: the Call-th
// (from 0) call it makes on the pod's installer or launcher (Install, Hook,
// Launch, Stop, Prune, Uninstall; queries such as Running are not steps),
// just before the call or just after it returns.
//
// With Hook set instead, the artifact's hook of that name kills the
// preparer that runs it, in the middle of the installer's own work.
type killPoint struct {
	Pod   string `json:"pod"`
	Call  int    `json:"call"`
	After bool   `json:"after"`
	Hook  string `json:"hook,omitempty"`
}

// envKillHook names the hook that kills the preparer running it.
const envKillHook = "P2KIT_TEST_KILL_HOOK"

// killingHook is every hook of the crash tests' artifacts: the one named
// by envKillHook SIGKILLs its parent, the preparer, and waits for it to be
// gone.
const killingHook = "#!/bin/sh\nif [ \"$HOOK\" = \"$" + envKillHook + "\" ]; then kill -KILL $PPID; while kill -0 $PPID 2>/dev/null; do :; done; exit 1; fi\nexit 0\n"

// hookedSleeper is sleeper with every hook.
func hookedSleeper(t *testing.T, id, version string) *manifest.Manifest {
	files := map[string]artifacttest.File{
		"bin/launch": {Body: launchScript, Exec: true},
		"VERSION":    {Body: id + " " + version},
	}
	for _, h := range []string{"before_install", "after_install", "before_launch", "after_launch", "before_uninstall"} {
		files["hooks/"+h] = artifacttest.File{Body: killingHook, Exec: true}
	}
	return artifactManifest(t, id, version, files)
}

func (k killPoint) String() string {
	if k.Hook != "" {
		return "in hook " + k.Hook
	}
	when := "before"
	if k.After {
		when = "after"
	}
	return fmt.Sprintf("%s call %d", when, k.Call)
}

// wrap returns an installer and a launcher that SIGKILL the process at the
// kill point, recording each step's name in <pod-root>/.steps first.
func (k *killPoint) wrap(inst preparer.Installer, launch preparer.Launcher) (preparer.Installer, preparer.Launcher) {
	if k.Hook != "" {
		_ = os.Setenv(envKillHook, k.Hook)
	}
	s := &stepper{k: *k}
	return killingInstaller{inst, s}, killingLauncher{launch, s}
}

type stepper struct {
	k     killPoint
	mu    sync.Mutex
	calls int
}

// step runs call as the next step on pod, dying before or after it when it
// is the kill point.
func (s *stepper) step(pod, name string, call func() error) error {
	if pod != s.k.Pod || s.k.Hook != "" {
		return call()
	}
	s.mu.Lock()
	n := s.calls
	s.calls++
	s.mu.Unlock()
	if n == s.k.Call && !s.k.After {
		die(name + " (before)")
	}
	err := call()
	if n == s.k.Call && s.k.After {
		die(fmt.Sprintf("%s (after, error %v)", name, err))
	}
	return err
}

// die reports the step on stderr and kills the process with SIGKILL, as a
// power cut or the OOM killer would: no deferred call, no cleanup.
func die(step string) {
	fmt.Fprintf(os.Stderr, "KILLED at %s\n", step)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

type killingInstaller struct {
	preparer.Installer
	s *stepper
}

func (i killingInstaller) Install(ctx context.Context, m *manifest.Manifest) (dir string, err error) {
	err = i.s.step(m.ID, "Install", func() error { dir, err = i.Installer.Install(ctx, m); return err })
	return dir, err
}

func (i killingInstaller) Hook(ctx context.Context, m *manifest.Manifest, dir, hook string) error {
	return i.s.step(m.ID, "Hook "+hook, func() error { return i.Installer.Hook(ctx, m, dir, hook) })
}

func (i killingInstaller) Uninstall(ctx context.Context, pod string) error {
	return i.s.step(pod, "Uninstall", func() error { return i.Installer.Uninstall(ctx, pod) })
}

func (i killingInstaller) Prune(ctx context.Context, pod, keep string) error {
	return i.s.step(pod, "Prune", func() error { return i.Installer.Prune(ctx, pod, keep) })
}

type killingLauncher struct {
	preparer.Launcher
	s *stepper
}

func (l killingLauncher) Launch(ctx context.Context, m *manifest.Manifest, dir string) error {
	return l.s.step(m.ID, "Launch", func() error { return l.Launcher.Launch(ctx, m, dir) })
}

func (l killingLauncher) Stop(ctx context.Context, pod string, grace time.Duration) error {
	return l.s.step(pod, "Stop", func() error { return l.Launcher.Stop(ctx, pod, grace) })
}

// crashCase is one operation on pod "hello": setup brings the node to its
// starting point, act asks for the operation, want is the manifest that
// should run at the end (nil: none).
type crashCase struct {
	name  string
	setup *manifest.Manifest
	act   func(n *realNode)
	want  *manifest.Manifest
	// steps is how many steps the operation has at least.
	steps int
	// hooks are the installer's hooks the operation runs.
	hooks []string
}

// The preparer is killed with SIGKILL before and after each step of an
// install, an upgrade and an uninstall in turn; a new preparer then
// converges the node with the app running once, the right version on disk
// and nothing else, and reality saying what runs.
func TestRealKilledAtEveryStepConverges(t *testing.T) {
	v1, v2 := hookedSleeper(t, "hello", "1"), hookedSleeper(t, "hello", "2")
	installHooks := []string{"before_install", "after_install"}
	cases := []crashCase{
		{name: "install", act: func(n *realNode) { n.setIntent(v1) }, want: v1, steps: 5, hooks: installHooks},
		{name: "upgrade", setup: v1, act: func(n *realNode) { n.setIntent(v2) }, want: v2, steps: 6, hooks: installHooks},
		{name: "uninstall", setup: v1, act: func(n *realNode) {
			require.NoError(n.t, n.intent.Delete(n.ctx(), n.node, "hello"))
		}, steps: 2, hooks: []string{"before_uninstall"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := newRealNode(t)
			n.self()
			points := 0
			for call := 0; ; call++ {
				done := false
				for _, after := range []bool{false, true} {
					k := killPoint{Pod: "hello", Call: call, After: after}
					if !n.killAt(c, k) {
						done = true
						break
					}
					points++
				}
				if done {
					break
				}
			}
			for _, h := range c.hooks {
				require.True(t, n.killAt(c, killPoint{Pod: "hello", Call: -1, Hook: h}), "hook %s kills the preparer", h)
				points++
			}
			t.Logf("%s: killed at %d points", c.name, points)
			require.GreaterOrEqual(t, points, 2*c.steps+len(c.hooks), "%s has at least %d steps", c.name, c.steps)
		})
	}
}

// killAt runs one crash case with the preparer killed at k. It reports
// false when the operation finished before reaching k.
func (n *realNode) killAt(c crashCase, k killPoint) bool {
	t := n.t
	t.Helper()
	// The starting point, reached by a preparer that is then stopped.
	if c.setup != nil {
		n.setIntent(c.setup)
	} else {
		if err := n.intent.Delete(n.ctx(), n.node, "hello"); err != nil {
			require.ErrorIs(t, err, kv.ErrNotFound)
		}
	}
	stop := n.start()
	n.check(c.setup)
	stop()

	args, err := json.Marshal(childArgs{Endpoints: n.cli.Endpoints(), Node: n.node, PodRoot: n.root, KillAt: &k})
	require.NoError(t, err)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envChild+"="+string(args))
	var stderr strings.Builder
	child.Stdout, child.Stderr = os.Stdout, &stderr
	require.NoError(t, child.Start())
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	c.act(n)

	killed := false
	require.Eventually(t, func() bool {
		select {
		case err := <-exited:
			ws, ok := child.ProcessState.Sys().(syscall.WaitStatus)
			require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL,
				"the child preparer ended without being killed: %v\n%s", err, stderr.String())
			killed = true
			return true
		default:
		}
		return n.converged(c.want)
	}, waitFor, 20*time.Millisecond, "%s %s: neither killed nor converged", c.name, k)
	if !killed {
		_ = child.Process.Kill()
		<-exited
		return false
	}
	t.Logf("%s %s: killed %s", c.name, k, strings.TrimSpace(stderr.String()))

	stop = n.start()
	n.check(c.want)
	stop()
	return true
}

// converged reports whether the node runs want (nil: nothing) as the
// preparer's status and reality say.
func (n *realNode) converged(want *manifest.Manifest) bool {
	o, err := n.statuses.Get(n.ctx(), n.node, "hello")
	if want == nil && errors.Is(err, kv.ErrNotFound) {
		return true // never installed
	}
	if err != nil {
		return false
	}
	if want == nil {
		return o.Value.Status == status.Removed
	}
	return o.Value.Status == status.Launched && o.Value.ManifestDigest == digest(n.t, want) &&
		o.Value.Health == status.Passing
}

// check waits until the node converged to want and then checks the node
// itself: the app runs once (or not at all), the pod's directory holds
// exactly want's complete install, nothing temporary is left in the pod
// root, and reality names what runs.
func (n *realNode) check(want *manifest.Manifest) {
	t := n.t
	t.Helper()
	require.Eventually(t, func() bool { return n.converged(want) }, waitFor, 20*time.Millisecond,
		"the node converges to %v", versionOf(want))
	apps := func() []string { return appProcesses(t, filepath.Join(n.root, "hello")) }
	home := filepath.Join(n.root, "hello")
	if want == nil {
		require.Eventually(t, func() bool { return len(apps()) == 0 }, waitFor, 20*time.Millisecond,
			"no app left running: %v", apps())
		_, err := os.Lstat(home)
		require.True(t, os.IsNotExist(err), "the pod's directory is gone: %v", err)
		require.NotContains(t, n.realityDigests(), "hello")
		_, running := n.launch.Running("hello")
		require.False(t, running)
	} else {
		d := digest(t, want)
		require.Eventually(t, func() bool { return len(apps()) == 1 }, waitFor, 20*time.Millisecond,
			"the app runs exactly once: %v", apps())
		require.Equal(t, []string{"VERSION=" + versionOf(want)}, apps(), "the app runs the wanted version")
		entries, err := os.ReadDir(filepath.Join(home, "installs"))
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		require.Equal(t, []string{d}, names, "exactly the wanted install on disk")
		require.FileExists(t, filepath.Join(home, "installs", d, ".manifest.json"), "the install is complete")
		target, err := os.Readlink(filepath.Join(home, "current"))
		require.NoError(t, err)
		require.Equal(t, d, filepath.Base(target))
		require.Equal(t, d, n.realityDigests()["hello"], "reality names what runs")
		running, ok := n.launch.Running("hello")
		require.True(t, ok)
		require.Equal(t, d, running)
	}
	require.Empty(t, temporaries(t, n.root), "nothing temporary left in the pod root")
}

func versionOf(m *manifest.Manifest) string {
	if m == nil {
		return "none"
	}
	return m.Launchables["app"].Env["VERSION"]
}

// appProcesses lists the live processes whose POD_HOME is home, each as
// its VERSION variable.
func appProcesses(t *testing.T, home string) []string {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || !alive(pid) {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "sleep" {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		vars := strings.Split(string(env), "\x00")
		for _, v := range vars {
			if v == "POD_HOME="+home {
				version := ""
				for _, v := range vars {
					if strings.HasPrefix(v, "VERSION=") {
						version = v
					}
				}
				out = append(out, version)
			}
		}
	}
	return out
}

// temporaries lists the installer's temporary files and directories
// anywhere under root.
func temporaries(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") || strings.HasSuffix(d.Name(), ".tmp") {
			rel, _ := filepath.Rel(root, path)
			out = append(out, rel)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	}))
	return out
}
