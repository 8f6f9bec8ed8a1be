package hoist

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/p2kit/p2kit/manifest"
)

// hookArtifact is an artifact whose hooks each append "<launchable> <hook>" to the file log.
func hookArtifact(t *testing.T, log string, hooks ...string) []byte {
	es := []entry{dir("bin/"), exe("bin/launch", "#!/bin/sh\n"), dir("hooks/")}
	for _, h := range hooks {
		es = append(es, exe("hooks/"+h, fmt.Sprintf("#!/bin/sh\necho \"$LAUNCHABLE_ID $HOOK\" >> %q\n", log)))
	}
	return targz(t, es...)
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestHooksRunInOrder(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "order")
	all := []string{HookBeforeInstall, HookAfterInstall, HookBeforeLaunch, HookAfterLaunch, HookBeforeUninstall}
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"a": launchable(artifactFile(t, hookArtifact(t, log, all...))),
		"b": launchable(artifactFile(t, hookArtifact(t, log, HookAfterInstall, HookBeforeUninstall))),
		"c": launchable(artifactFile(t, targz(t, helloArtifact...))), // no hooks at all
	})
	in := New(t.TempDir())
	inst, err := in.Install(testCtx(t), m)
	require.NoError(t, err)
	require.Equal(t, []string{"a before_install", "a after_install", "b after_install"}, readLines(t, log))

	// A complete install is reused without running its hooks again.
	_, err = in.Install(testCtx(t), m)
	require.NoError(t, err)
	require.Len(t, readLines(t, log), 3)

	require.NoError(t, in.RunHook(testCtx(t), inst, HookBeforeLaunch))
	require.NoError(t, in.RunHook(testCtx(t), inst, HookAfterLaunch))
	require.NoError(t, in.Uninstall(testCtx(t), "hello"))
	require.Equal(t, []string{
		"a before_install", "a after_install", "b after_install",
		"a before_launch", "a after_launch",
		"a before_uninstall", "b before_uninstall",
	}, readLines(t, log))
	require.NoDirExists(t, in.PodHome("hello"))
	pods, err := in.Pods()
	require.NoError(t, err)
	require.Empty(t, pods)
	require.NoError(t, in.Uninstall(testCtx(t), "hello"), "uninstalling what is gone does nothing")

	require.ErrorContains(t, in.RunHook(testCtx(t), inst, "before_lunch"), `unknown hook "before_lunch"`)
}

func TestHookEnvironment(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "env")
	script := fmt.Sprintf("#!/bin/sh\n{ echo \"$POD_ID\"; echo \"$POD_HOME\"; echo \"$LAUNCHABLE_ID\"; "+
		"echo \"$LAUNCHABLE_ROOT\"; echo \"$CONFIG_PATH\"; echo \"$HOOK\"; echo \"$GREETING\"; pwd; } > %q\n", out)
	l := launchable(artifactFile(t, targz(t, exe("hooks/after_install", script))))
	l.Env = map[string]string{"GREETING": "hi", "POD_ID": "not this"}
	in := New(t.TempDir())
	inst, err := in.Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
	require.NoError(t, err)
	require.Equal(t, []string{
		"hello", inst.PodHome, "app", inst.Launchables["app"], inst.ConfigPath, "after_install", "hi",
		inst.Launchables["app"],
	}, readLines(t, out))
}

func TestFailingHookFailsTheInstall(t *testing.T) {
	t.Parallel()
	hook := "#!/bin/sh\necho working\necho \"it broke\" >&2\nexit 3\n"
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, targz(t, exe("hooks/after_install", hook)))),
	})
	in := New(t.TempDir())
	_, err := in.Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrHook)
	require.ErrorContains(t, err, "install pod hello: launchable app: hook after_install: exit status 3")
	require.ErrorContains(t, err, `working\nit broke`)
	requireNothingInstalled(t, in, "hello")

	// Through RunHook the error names the pod too.
	m = podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, targz(t, exe("hooks/before_launch", hook)))),
	})
	inst, err := in.Install(testCtx(t), m)
	require.NoError(t, err)
	err = in.RunHook(testCtx(t), inst, HookBeforeLaunch)
	require.ErrorIs(t, err, ErrHook)
	require.ErrorContains(t, err, "pod hello: launchable app: hook before_launch: exit status 3")
}

func TestHookThatIsNotExecutable(t *testing.T) {
	t.Parallel()
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, targz(t, file("hooks/before_install", "#!/bin/sh\n")))),
	})
	in := New(t.TempDir())
	_, err := in.Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrHook)
	require.ErrorContains(t, err, "hook before_install:")
	require.ErrorContains(t, err, "is not executable")
}

func TestHookTimeout(t *testing.T) {
	t.Parallel()
	// The hook's child keeps its output open: it is killed with the hook's process group.
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, targz(t, exe("hooks/before_install", "#!/bin/sh\nsleep 1000 &\nsleep 1000\n")))),
	})
	in := New(t.TempDir(), WithHookTimeout(200*time.Millisecond))
	start := time.Now()
	_, err := in.Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrHook)
	require.ErrorContains(t, err, "hook before_install: timed out after 200ms")
	require.Less(t, time.Since(start), 4*time.Second, "killing the group ends the wait")
	requireNothingInstalled(t, in, "hello")
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	b := &tailBuffer{max: 8}
	b.Write([]byte("0123"))
	b.Write([]byte("45678"))
	require.Equal(t, "12345678", b.String())
	b.Write([]byte("abcdefghijk"))
	require.Equal(t, "defghijk", b.String())
	require.Equal(t, "...ijk", tail(b.String(), 3))
}

// TestKilledInstallConverges kills a process with SIGKILL while its install runs a hook, and
// checks that the next install of the same pod succeeds.
func TestKilledInstallConverges(t *testing.T) {
	t.Parallel()
	if os.Getenv("HOIST_TEST_CHILD") != "" {
		return // this process is the child TestInstallChild runs in
	}
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	flag := filepath.Join(tmp, "block")
	started := filepath.Join(tmp, "started")
	require.NoError(t, os.WriteFile(flag, nil, 0o644))
	// The hook blocks while the flag exists, after writing its pid (its process group's id).
	hook := fmt.Sprintf("#!/bin/sh\nif [ -e %q ]; then echo $$ > %q.tmp; mv %q.tmp %q; exec sleep 1000; fi\n",
		flag, started, started, started)
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, targz(t, exe("bin/launch", "#!/bin/sh\n"), exe("hooks/after_install", hook)))),
	})
	data, err := m.Marshal()
	require.NoError(t, err)
	manifestPath := filepath.Join(tmp, "manifest.json")
	require.NoError(t, os.WriteFile(manifestPath, data, 0o644))

	child := exec.Command(os.Args[0], "-test.run=^TestInstallChild$", "-test.count=1")
	child.Env = append(os.Environ(), "HOIST_TEST_CHILD="+root+"|"+manifestPath)
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	require.NoError(t, child.Start())
	defer child.Process.Kill()

	var hookPid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(started)
		if err != nil {
			return false
		}
		hookPid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 20*time.Second, 10*time.Millisecond, "the child's hook never started: %s", &out)
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	child.Wait()
	syscall.Kill(-hookPid, syscall.SIGKILL) // the hook's group outlives its parent, as an app would

	installs := filepath.Join(root, "hello", "installs")
	require.Len(t, entries(t, installs), 1, "the killed install left its directory behind")
	in := New(root)
	installed, err := in.Installed("hello")
	require.NoError(t, err)
	require.Empty(t, installed, "and it is not complete")

	require.NoError(t, os.Remove(flag))
	inst, err := in.Install(testCtx(t), m)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(inst.Launchables["app"], "bin", "launch"))
	require.Equal(t, []string{inst.Digest}, entries(t, installs))
}

// TestInstallChild is the process TestKilledInstallConverges kills.
func TestInstallChild(t *testing.T) {
	env := os.Getenv("HOIST_TEST_CHILD")
	if env == "" {
		return // only a child process started by TestKilledInstallConverges installs here
	}
	root, manifestPath, _ := strings.Cut(env, "|")
	data, err := os.ReadFile(manifestPath)
	require.NoError(t, err)
	m, err := manifest.Decode(data)
	require.NoError(t, err)
	_, err = New(root).Install(context.Background(), m)
	t.Fatalf("the install was to hang, got %v", err)
}
