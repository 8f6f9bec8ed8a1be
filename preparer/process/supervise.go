package process

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The environment that puts a program into supervisor mode. envMode is modeStart for the
// short-lived process the Launcher waits for, which starts the detached modeRun process and
// records its pid; envDir is the entry point's state directory.
const (
	envMode   = "P2KIT_SUPERVISE"
	envDir    = "P2KIT_SUPERVISE_DIR"
	modeStart = "start"
	modeRun   = "run"

	// supervisorArg0 is argv[0] of supervisors, so ps shows what they are.
	supervisorArg0 = "p2kit-supervisor"
	// pollInterval is how often a supervisor checks an adopted app and a stopping group.
	pollInterval = 50 * time.Millisecond
	// readyTimeout bounds the wait for a new supervisor to start or adopt its app.
	readyTimeout = 20 * time.Second
	// readyFD is the supervisor's end of the pipe on which it reports that it is ready.
	readyFD = 3
	// exitStartFailed is the exit code recorded when an entry point cannot be started.
	exitStartFailed = 127
)

// hooked records that the program called MaybeSupervise, so Launch can refuse to re-execute a
// program that would not become a supervisor.
var hooked atomic.Bool

// MaybeSupervise turns the current process into a supervisor when a Launcher started it as one,
// and never returns in that case; otherwise it returns at once. A program that uses a Launcher
// must call it first thing in main, before it parses flags or starts anything, and a test binary
// that launches must call it in TestMain: the Launcher re-executes the program
// (os.Executable) to get its supervisors, and refuses to launch when MaybeSupervise was not
// called.
func MaybeSupervise() {
	hooked.Store(true)
	mode := os.Getenv(envMode)
	if mode == "" {
		return
	}
	dir := os.Getenv(envDir)
	switch mode {
	case modeStart:
		os.Exit(detach(dir))
	case modeRun:
		os.Exit(supervise(dir))
	default:
		fmt.Fprintf(os.Stderr, "p2kit supervisor: unknown %s=%q\n", envMode, mode)
		os.Exit(2)
	}
}

// supervisorEnv returns env without the supervisor variables, plus those for mode and dir.
func supervisorEnv(env []string, mode, dir string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if hasKey(kv, envMode) || hasKey(kv, envDir) {
			continue
		}
		out = append(out, kv)
	}
	return append(out, envMode+"="+mode, envDir+"="+dir)
}

func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '='
}

// detach is the start mode: it starts the run mode in a new session with its output in the
// supervisor log, writes its pid file and exits, so the supervisor is orphaned (adopted by
// init) rather than left a child of the preparer. The Launcher waits for this process, so when
// Launch returns the supervisor's pid file is in place.
func detach(dir string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "p2kit supervisor %s: %v\n", dir, err)
		return 1
	}
	if !filepath.IsAbs(dir) {
		return fail(errors.New("state directory is not absolute"))
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, supervisorLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, logPerm)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fail(err)
	}
	defer null.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer ready.Close()
	p, err := os.StartProcess(exe, append([]string{supervisorArg0}, os.Args[1:]...), &os.ProcAttr{
		Dir:   "/",
		Env:   supervisorEnv(os.Environ(), modeRun, dir),
		Files: []*os.File{null, logf, logf, readyW},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	readyW.Close()
	if err != nil {
		return fail(err)
	}
	rec, err := recordOf(p.Pid)
	if err == nil {
		rec.session = 0
		err = writeAtomic(filepath.Join(dir, supervisorPID), []byte(rec.String()))
	}
	if err == nil {
		err = awaitReady(ready)
	}
	if err != nil {
		_ = p.Kill()
		_, _ = p.Wait()
		return fail(err)
	}
	_ = p.Release()
	return 0
}

// awaitReady waits until the supervisor has started or adopted its app, which it reports by
// writing a byte to its end of the pipe.
func awaitReady(r *os.File) error {
	if err := r.SetReadDeadline(time.Now().Add(readyTimeout)); err != nil {
		return err
	}
	var b [1]byte
	if n, err := r.Read(b[:]); n != 1 {
		return fmt.Errorf("supervisor did not start its app (see %s): %w", supervisorLog, err)
	}
	return nil
}

// supervisor runs one entry point.
type supervisor struct {
	dir  string
	spec spec
	log  *zap.Logger
	sigs chan os.Signal
	// readyW is the pipe to report readiness on; nil once reported.
	readyW *os.File

	app      pidRecord // the running app; zero when none
	adopted  bool      // app was started by an earlier supervisor: poll it, it is not our child
	started  time.Time // when app started
	exited   bool      // the app's exit has been recorded
	stopping bool
	killAt   time.Time // when stopping: SIGKILL the group after this
}

// supervise is the run mode.
func supervise(dir string) int {
	// The readiness pipe must not leak into the app.
	syscall.CloseOnExec(readyFD)
	s := &supervisor{dir: dir, sigs: make(chan os.Signal, 32), readyW: os.NewFile(readyFD, "ready")}
	s.log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(os.Stderr), zap.InfoLevel))
	if err := readJSON(filepath.Join(dir, specFile), &s.spec); err != nil {
		s.log.Error("read spec", zap.String("dir", dir), zap.Error(err))
		_ = s.readyW.Close() // not ready: the starting process reads end of file
		return 1
	}
	s.log = s.log.With(zap.String("pod", s.spec.Pod), zap.String("launchable", s.spec.Launchable),
		zap.String("entry_point", s.spec.EntryPoint))
	// Orphans of the app are re-parented to this process, which reaps them.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		s.log.Warn("cannot become a child subreaper", zap.Error(errno))
	}
	signal.Notify(s.sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	s.log.Info("supervisor started", zap.Int("pid", os.Getpid()))
	s.run()
	s.reap()
	s.log.Info("supervisor exiting")
	return 0
}

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER from <linux/prctl.h>

func (s *supervisor) run() {
	// An app that an earlier supervisor started and that still runs is adopted, never started
	// twice.
	// A group whose leader has ended is ended before a new app starts.
	if rec, err := readPid(filepath.Join(s.dir, appPID)); err == nil && rec.pid != 0 {
		s.app, s.adopted, s.started = rec, true, time.Now()
		if alive(rec.pid, rec.start) {
			s.log.Info("adopted running app", zap.Int("pid", rec.pid))
		} else {
			s.recordExit(status.Exit{Code: -1, At: time.Now().UTC()})
			s.drainGroup()
		}
	}
	backoff := s.spec.MinBackoff
	for {
		if s.app.pid == 0 {
			if err := s.start(); err != nil {
				s.log.Error("start app", zap.Error(err))
				s.appendStderr(fmt.Sprintf("p2kit: cannot start %s: %v\n", s.spec.EntryPoint, err))
				s.recordExit(status.Exit{Code: exitStartFailed, At: time.Now().UTC()})
			}
		}
		s.ready()
		if s.app.pid != 0 {
			s.wait()
			s.drainGroup()
		}
		if s.stopping {
			return
		}
		if s.spec.RestartPolicy != string(manifest.RestartAlways) {
			if err := writeAtomic(filepath.Join(s.dir, doneFile), nil); err != nil {
				s.log.Error("write done marker", zap.Error(err))
			}
			s.log.Info("app ended; restart policy is never")
			return
		}
		if time.Since(s.started) >= s.spec.MaxBackoff {
			backoff = s.spec.MinBackoff
		}
		s.log.Info("restarting app", zap.Duration("backoff", backoff))
		if !s.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, s.spec.MaxBackoff)
		n := readRestarts(s.dir) + 1
		if err := writeAtomic(filepath.Join(s.dir, restartsFile), []byte(strconv.Itoa(n)+"\n")); err != nil {
			s.log.Error("write restart count", zap.Error(err))
		}
	}
}

// ready tells the process that started the supervisor that the app has been started (or
// adopted, or has failed to start) once.
func (s *supervisor) ready() {
	if s.readyW == nil {
		return
	}
	_, _ = s.readyW.Write([]byte{1})
	_ = s.readyW.Close()
	s.readyW = nil
}

// start starts the app in its own process group and records its pid.
func (s *supervisor) start() error {
	s.started = time.Now()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	out, err := os.OpenFile(s.spec.Stdout, os.O_WRONLY|os.O_CREATE|os.O_APPEND, logPerm)
	if err != nil {
		return err
	}
	defer out.Close()
	errf, err := os.OpenFile(s.spec.Stderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, logPerm)
	if err != nil {
		return err
	}
	defer errf.Close()
	sys := &syscall.SysProcAttr{Setpgid: true}
	if c := s.spec.Credential; c != nil {
		sys.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
	}
	pid, err := syscall.ForkExec(s.spec.Path, []string{s.spec.Path}, &syscall.ProcAttr{
		Dir:   s.spec.Dir,
		Env:   s.spec.Env,
		Files: []uintptr{null.Fd(), out.Fd(), errf.Fd()},
		Sys:   sys,
	})
	if err != nil {
		return err
	}
	rec, err := recordOf(pid)
	if err != nil {
		// It has already ended (and is a zombie until reaped, so this is rare): keep the
		// pid to reap it; the start time only guards signals.
		rec = pidRecord{pid: pid}
	}
	s.app, s.adopted, s.exited = rec, false, false
	if err := writeAtomic(filepath.Join(s.dir, appPID), []byte(rec.String())); err != nil {
		s.log.Error("write app pid file", zap.Error(err))
	}
	s.log.Info("app started", zap.Int("pid", pid))
	return nil
}

// wait returns when the app's leader has ended, handling stop signals meanwhile.
func (s *supervisor) wait() {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !s.exited {
		select {
		case sig := <-s.sigs:
			s.handle(sig)
		case <-tick.C:
			if s.adopted && !alive(s.app.pid, s.app.start) {
				s.log.Info("adopted app ended")
				s.recordExit(status.Exit{Code: -1, At: time.Now().UTC()})
			}
			s.escalate()
		}
	}
}

// drainGroup ends what is left of the app's process group after its leader: SIGTERM, and
// SIGKILL after the grace period (or at the stop's deadline).
func (s *supervisor) drainGroup() {
	group := s.app
	defer func() { s.app = pidRecord{} }()
	if !groupAlive(group) {
		return
	}
	if !s.stopping {
		s.log.Info("ending processes the app left in its group")
		_ = signalGroup(group, syscall.SIGTERM)
		s.killAt = time.Now().Add(s.grace())
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for groupAlive(group) {
		select {
		case sig := <-s.sigs:
			s.handle(sig)
		case <-tick.C:
			if time.Now().After(s.killAt) {
				_ = signalGroup(group, syscall.SIGKILL)
			}
		}
	}
}

// sleep waits d and reports true, or false when a stop signal came first.
func (s *supervisor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for !s.stopping {
		select {
		case sig := <-s.sigs:
			s.handle(sig)
		case <-t.C:
			return true
		}
	}
	return false
}

func (s *supervisor) handle(sig os.Signal) {
	if sig == syscall.SIGCHLD {
		s.reap()
		return
	}
	if s.stopping {
		return
	}
	s.stopping = true
	grace := s.grace()
	s.killAt = time.Now().Add(grace)
	s.log.Info("stopping", zap.String("signal", sig.String()), zap.Duration("grace", grace))
	if s.app.pid != 0 {
		if err := signalGroup(s.app, syscall.SIGTERM); err != nil {
			s.log.Error("signal app group", zap.Error(err))
		}
	}
}

// escalate kills the app's group once a stop's grace period is over.
func (s *supervisor) escalate() {
	if s.stopping && s.app.pid != 0 && time.Now().After(s.killAt) {
		if err := signalGroup(s.app, syscall.SIGKILL); err != nil {
			s.log.Error("kill app group", zap.Error(err))
		}
	}
}

// grace is the stop's grace period: the one the Launcher wrote to the stop file, or the
// manifest's.
func (s *supervisor) grace() time.Duration {
	b, err := os.ReadFile(filepath.Join(s.dir, stopFile))
	if err == nil {
		if d, err := time.ParseDuration(string(b)); err == nil && d > 0 {
			return d
		}
	}
	if s.spec.Grace > 0 {
		return s.spec.Grace
	}
	return DefaultGracePeriod
}

// reap collects every child that has ended, recording the app's exit.
func (s *supervisor) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if pid != s.app.pid || s.adopted || s.exited {
			continue
		}
		e := status.Exit{Code: ws.ExitStatus(), At: time.Now().UTC()}
		if ws.Signaled() {
			e.Code, e.Signal = -1, signalName(ws.Signal())
		}
		s.log.Info("app ended", zap.Int("pid", pid), zap.Int("code", e.Code), zap.String("signal", e.Signal))
		s.recordExit(e)
	}
}

// recordExit writes the app's last exit and removes its pid file.
func (s *supervisor) recordExit(e status.Exit) {
	s.exited = true
	if err := writeJSON(filepath.Join(s.dir, lastExitFile), e); err != nil {
		s.log.Error("write last exit", zap.Error(err))
	}
	if err := os.Remove(filepath.Join(s.dir, appPID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("remove app pid file", zap.Error(err))
	}
}

// appendStderr adds a line of the supervisor's to the app's stderr log.
func (s *supervisor) appendStderr(line string) {
	f, err := os.OpenFile(s.spec.Stderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, logPerm)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(line)
}
