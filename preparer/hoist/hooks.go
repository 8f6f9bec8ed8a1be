package hoist

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The hooks an artifact may carry, as executables named exactly so in its "hooks" directory,
// in the order a pod's life runs them. Install runs before_install and after_install,
// Uninstall runs before_uninstall; the preparer runs the launch hooks with RunHook.
const (
	HookBeforeInstall   = "before_install"
	HookAfterInstall    = "after_install"
	HookBeforeLaunch    = "before_launch"
	HookAfterLaunch     = "after_launch"
	HookBeforeUninstall = "before_uninstall"
)

// HooksDir is the directory of an unpacked artifact that holds its hooks.
const HooksDir = "hooks"

// The environment variables hooks get, on top of the installer's own environment and the
// launchable's env from the manifest; see Install.Env.
const (
	EnvPodID          = "POD_ID"
	EnvPodHome        = "POD_HOME"
	EnvLaunchableID   = "LAUNCHABLE_ID"
	EnvLaunchableRoot = "LAUNCHABLE_ROOT"
	EnvConfigPath     = "CONFIG_PATH"
	// EnvHook holds the name of the hook being run.
	EnvHook = "HOOK"
)

const (
	// hookOutputLog is how much of a hook's output, from its end, is kept for the log.
	hookOutputLog = 16 << 10
	// hookOutputErr is how much of it, from its end, goes into an error.
	hookOutputErr = 2 << 10
	// hookWaitDelay is how long a hook's output may stay open after the hook is killed or has
	// exited (a child it left behind may hold it).
	hookWaitDelay = 5 * time.Second
)

var hookNames = []string{HookBeforeInstall, HookAfterInstall, HookBeforeLaunch, HookAfterLaunch, HookBeforeUninstall}

// Env returns the variables that tell a launchable's hooks and processes where they are, as
// "NAME=value" strings: POD_ID, POD_HOME, LAUNCHABLE_ID, LAUNCHABLE_ROOT and CONFIG_PATH.
func (i *Install) Env(launchable string) []string {
	return []string{
		EnvPodID + "=" + i.PodID,
		EnvPodHome + "=" + i.PodHome,
		EnvLaunchableID + "=" + launchable,
		EnvLaunchableRoot + "=" + i.Launchables[launchable],
		EnvConfigPath + "=" + i.ConfigPath,
	}
}

// RunHook runs the hook of that name (one of the Hook constants) of each of the install's
// launchables that has it, in launchable name order, stopping at the first that fails. A hook
// runs in its launchable's directory with the installer's environment, the launchable's env and
// Install.Env, and is killed, with any processes it started in its process group, after the
// hook timeout or when ctx is done. A launchable without the hook is skipped. The error of a
// failing hook wraps ErrHook and names the pod, the launchable and the hook, with the end of
// the hook's output; that of a cancelled one wraps the context's error.
func (in *Installer) RunHook(ctx context.Context, inst *Install, hook string) error {
	if inst == nil {
		return errors.New("run hook: nil install")
	}
	if err := in.runHook(ctx, inst, hook); err != nil {
		return fmt.Errorf("pod %s: %w", inst.PodID, err)
	}
	return nil
}

// runHook is RunHook with errors that do not name the pod.
func (in *Installer) runHook(ctx context.Context, inst *Install, hook string) error {
	if !slices.Contains(hookNames, hook) {
		return fmt.Errorf("unknown hook %q (want one of %q)", hook, hookNames)
	}
	for _, name := range slices.Sorted(maps.Keys(inst.Launchables)) {
		if err := in.runOne(ctx, inst, name, hook); err != nil {
			return fmt.Errorf("launchable %s: hook %s: %w", name, hook, err)
		}
	}
	return nil
}

func (in *Installer) runOne(ctx context.Context, inst *Install, launchable, hook string) error {
	dir := inst.Launchables[launchable]
	exe := filepath.Join(dir, HooksDir, hook)
	fi, err := os.Stat(exe)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return mark(ErrHook, err)
	case !fi.Mode().IsRegular():
		return mark(ErrHook, fmt.Errorf("%s is not a regular file", exe))
	case fi.Mode().Perm()&0o111 == 0:
		return mark(ErrHook, fmt.Errorf("%s is not executable", exe))
	}

	env := os.Environ()
	if inst.Manifest != nil {
		l := inst.Manifest.Launchables[launchable]
		for _, k := range slices.Sorted(maps.Keys(l.Env)) {
			env = append(env, k+"="+l.Env[k])
		}
	}
	env = append(env, inst.Env(launchable)...)
	env = append(env, EnvHook+"="+hook)

	log := in.log.With(zap.String("pod", inst.PodID), zap.String("launchable", launchable), zap.String("hook", hook))
	hctx, cancel := context.WithTimeout(ctx, in.hookTimeout)
	defer cancel()
	out := &tailBuffer{max: hookOutputLog}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		out.Reset()
		cmd := exec.CommandContext(hctx, exe)
		cmd.Dir = dir
		cmd.Env = env
		cmd.Stdout = out
		cmd.Stderr = out
		cmd.WaitDelay = hookWaitDelay
		ownProcessGroup(cmd)
		err = cmd.Run()
		// A file just unpacked can be "busy" for an instant while a process forked elsewhere in
		// this program still holds it open between fork and exec.
		if err == nil || !isTextBusy(err) || attempt == 5 || hctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
	took := time.Since(start)
	output := out.String()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The hook succeeded, but something it started still holds its output open.
		log.Warn("hook left a process holding its output", zap.Duration("took", took))
		err = nil
	}
	switch {
	case err == nil:
		log.Info("hook ran", zap.Duration("took", took), zap.String("output", output))
		return nil
	case ctx.Err() != nil:
		log.Warn("hook cancelled", zap.Duration("took", took), zap.String("output", output))
		return ctx.Err()
	case hctx.Err() != nil:
		log.Error("hook timed out", zap.Duration("timeout", in.hookTimeout), zap.String("output", output))
		return mark(ErrHook, fmt.Errorf("timed out after %s; output: %q", in.hookTimeout, tail(output, hookOutputErr)))
	}
	log.Error("hook failed", zap.Error(err), zap.Duration("took", took), zap.String("output", output))
	return mark(ErrHook, fmt.Errorf("%w; output: %q", err, tail(output, hookOutputErr)))
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.max {
		p = p[len(p)-b.max:]
		b.buf = b.buf[:0]
	} else if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = b.buf[:copy(b.buf, b.buf[over:])]
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = b.buf[:0]
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
