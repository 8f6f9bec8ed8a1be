package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"go.uber.org/zap"
)

// Defaults of a Launcher.
const (
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait before restarting an app under
	// restart_policy always. The wait doubles after each exit and starts again from the
	// minimum once the app has run for at least the maximum.
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultGracePeriod is the grace period of a pod whose manifest sets none.
	DefaultGracePeriod = 10 * time.Second

	// startTimeout bounds how long Launch waits for a supervisor to detach.
	startTimeout = 30 * time.Second
	// killTimeout bounds how long Stop waits for SIGKILLed processes to go.
	killTimeout = 5 * time.Second
	// stopPoll is how often Stop looks whether the pod's processes are gone.
	stopPoll = 20 * time.Millisecond
)

// ErrNotHooked is returned by Launch when the program did not call MaybeSupervise, so
// re-executing it would not give a supervisor.
var ErrNotHooked = errors.New("process: the program must call process.MaybeSupervise() first thing in main (and in TestMain)")

// Launcher runs the entry points of installed pods under supervisors that outlive it, and finds
// them again from their state under the pod root. It is safe for concurrent use; calls for one
// pod are serialized. Two Launchers over one pod root in different programs must not act on
// the same pod at once.
type Launcher struct {
	root       string
	log        *zap.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	env        map[string]string

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Option configures a Launcher.
type Option func(*Launcher)

// WithEnv adds variables to every app's environment, under the
// launchable's own env (which wins): facts about the node such as its name
// or address.
func WithEnv(env map[string]string) Option { return func(l *Launcher) { l.env = env } }

// WithLogger sets the Launcher's logger; the default discards.
func WithLogger(log *zap.Logger) Option {
	return func(l *Launcher) {
		if log != nil {
			l.log = log
		}
	}
}

// WithRestartBackoff sets the bounds of the wait before an app is restarted (see
// DefaultMinBackoff). It applies to pods launched afterwards; a running supervisor keeps the
// bounds it was started with.
func WithRestartBackoff(minWait, maxWait time.Duration) Option {
	return func(l *Launcher) {
		if minWait > 0 {
			l.minBackoff = minWait
		}
		if maxWait > 0 {
			l.maxBackoff = maxWait
		}
		l.maxBackoff = max(l.maxBackoff, l.minBackoff)
	}
}

// New returns a Launcher for the pods under podRoot: pod p's state and logs are under
// <podRoot>/<p>/. A relative podRoot is made absolute.
func New(podRoot string, opts ...Option) *Launcher {
	if abs, err := filepath.Abs(podRoot); err == nil {
		podRoot = abs
	}
	l := &Launcher{
		root:       podRoot,
		log:        zap.NewNop(),
		minBackoff: DefaultMinBackoff,
		maxBackoff: DefaultMaxBackoff,
		locks:      make(map[string]*sync.Mutex),
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// lock serializes the calls for one pod.
func (l *Launcher) lock(pod string) func() {
	l.mu.Lock()
	m, ok := l.locks[pod]
	if !ok {
		m = new(sync.Mutex)
		l.locks[pod] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (l *Launcher) podDir(pod string) string      { return filepath.Join(l.root, pod) }
func (l *Launcher) procDir(pod string) string     { return filepath.Join(l.root, pod, processesDir) }
func (l *Launcher) entryDir(pod, e string) string { return filepath.Join(l.procDir(pod), e) }

// Launch starts a supervised process for every entry point of every launchable of m; the
// launchable named n is the directory installDir/n, and installDir/config.json is the pod's
// config file. It is idempotent: an entry point whose supervisor runs (or whose app ended
// under restart_policy never) for m's digest is left alone, so launching the version a pod
// already runs restarts nothing, and launching again after a crash starts only what is
// missing. A pod that runs another digest is stopped first, with the grace period of the
// manifest it was launched with.
//
// Each app runs with the working directory of its launchable and an environment of PATH, HOME,
// USER, LOGNAME, LANG, LC_ALL, TZ and TMPDIR from the caller's, the launchable's env, and
// POD_ID, POD_HOME, LAUNCHABLE_ID, LAUNCHABLE_ROOT, CONFIG_PATH and P2_MANIFEST_DIGEST. A
// manifest's run_as other than the current user needs a launcher running as root.
func (l *Launcher) Launch(ctx context.Context, m *manifest.Manifest, installDir string) error {
	if m == nil {
		return errors.New("launch: nil manifest")
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("launch pod %s: %w", m.ID, err)
	}
	if !hooked.Load() {
		return fmt.Errorf("launch pod %s: %w", m.ID, ErrNotHooked)
	}
	digest, err := m.Digest()
	if err != nil {
		return fmt.Errorf("launch pod %s: %w", m.ID, err)
	}
	if installDir, err = filepath.Abs(installDir); err != nil {
		return fmt.Errorf("launch pod %s: %w", m.ID, err)
	}
	specs, err := l.specs(m, digest, installDir)
	if err != nil {
		return err
	}
	pod := m.ID
	unlock := l.lock(pod)
	defer unlock()
	log := l.log.With(zap.String("pod", pod), zap.String("manifest_digest", digest))

	rec, err := l.readPod(pod)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("unreadable pod state; stopping what it names", zap.Error(err))
	}
	if rec == nil || rec.Digest != digest {
		if exists(l.procDir(pod)) {
			grace := DefaultGracePeriod
			if rec != nil && rec.Grace > 0 {
				grace = rec.Grace
			}
			log.Info("stopping the pod's other version", zap.Duration("grace", grace))
			if err := l.stop(ctx, pod, grace); err != nil {
				return fmt.Errorf("launch pod %s: stop running version: %w", pod, err)
			}
		}
		rec = &podRecord{Pod: pod, Digest: digest, Grace: m.GracePeriod()}
		for _, s := range specs {
			rec.Entries = append(rec.Entries, entryName(s.Launchable, s.EntryPoint))
		}
		if err := os.MkdirAll(l.procDir(pod), dirPerm); err != nil {
			return fmt.Errorf("launch pod %s: %w", pod, err)
		}
		if err := writeJSON(filepath.Join(l.procDir(pod), podFile), rec); err != nil {
			return fmt.Errorf("launch pod %s: %w", pod, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(l.podDir(pod), logsDir), dirPerm); err != nil {
		return fmt.Errorf("launch pod %s: %w", pod, err)
	}
	started := 0
	for _, s := range specs {
		dir := l.entryDir(pod, entryName(s.Launchable, s.EntryPoint))
		if e := l.entryState(dir); e.supervised || e.done {
			continue
		}
		if err := l.startSupervisor(ctx, dir, s); err != nil {
			return fmt.Errorf("launch pod %s launchable %s entry point %s: %w", pod, s.Launchable, s.EntryPoint, err)
		}
		started++
		log.Info("started supervisor", zap.String("launchable", s.Launchable), zap.String("entry_point", s.EntryPoint))
	}
	if started == 0 {
		log.Debug("pod already running this version")
	}
	return nil
}

// specs returns the spec of every entry point of m, sorted, after checking that each entry
// point is an executable file.
func (l *Launcher) specs(m *manifest.Manifest, digest, installDir string) ([]*spec, error) {
	podDir := l.podDir(m.ID)
	base := minimalEnv()
	cred, err := lookupCredential(m.RunAs)
	if err != nil {
		return nil, fmt.Errorf("launch pod %s: run_as %s: %w", m.ID, m.RunAs, err)
	}
	names := make([]string, 0, len(m.Launchables))
	for n := range m.Launchables {
		names = append(names, n)
	}
	slices.Sort(names)
	var specs []*spec
	seen := make(map[string]string)
	for _, name := range names {
		lch := m.Launchables[name]
		root := filepath.Join(installDir, name)
		env := mergeEnv(base, l.env, lch.Env, map[string]string{
			"POD_ID":             m.ID,
			"POD_HOME":           podDir,
			"LAUNCHABLE_ID":      name,
			"LAUNCHABLE_ROOT":    root,
			"CONFIG_PATH":        filepath.Join(installDir, "config.json"),
			"P2_MANIFEST_DIGEST": digest,
		})
		for _, ep := range lch.EntryPointsOrDefault() {
			fail := func(err error) error {
				return fmt.Errorf("launch pod %s launchable %s entry point %s: %w", m.ID, name, ep, err)
			}
			en := entryName(name, ep)
			if other, dup := seen[en]; dup {
				return nil, fail(fmt.Errorf("its state directory %q is also that of entry point %s", en, other))
			}
			seen[en] = ep
			path := filepath.Join(root, ep)
			if err := checkExecutable(path); err != nil {
				return nil, fail(err)
			}
			stdout, stderr := logPaths(podDir, name, ep)
			specs = append(specs, &spec{
				Pod: m.ID, Launchable: name, EntryPoint: ep, Digest: digest,
				Path: path, Dir: root, Env: env, Stdout: stdout, Stderr: stderr,
				RestartPolicy: string(lch.RestartPolicyOrDefault()),
				MinBackoff:    l.minBackoff, MaxBackoff: l.maxBackoff,
				Grace: m.GracePeriod(), Credential: cred,
			})
		}
	}
	return specs, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

// startSupervisor writes the entry point's spec and starts its supervisor, which detaches; it
// returns once the supervisor's pid file is written.
func (l *Launcher) startSupervisor(ctx context.Context, dir string, s *spec) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	// What a supervisor of an earlier launch of this version left: its stop request.
	_ = os.Remove(filepath.Join(dir, stopFile))
	if err := writeJSON(filepath.Join(dir, specFile), s); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to run as supervisor: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Args = []string{supervisorArg0, s.label()}
	cmd.Env = supervisorEnv(os.Environ(), modeStart, dir)
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
			return fmt.Errorf("start supervisor: %w: %s", err, msg)
		}
		return fmt.Errorf("start supervisor: %w", err)
	}
	rec, err := readPid(filepath.Join(dir, supervisorPID))
	if err != nil {
		return err
	}
	if rec.pid == 0 {
		return errors.New("start supervisor: no pid file written")
	}
	return nil
}

// entryState is what is known of one entry point from its state directory.
type entryState struct {
	supervisor pidRecord
	app        pidRecord
	supervised bool // the supervisor runs
	appRunning bool // the app's group has a running process
	done       bool // the app ended under restart_policy never
}

func (l *Launcher) entryState(dir string) entryState {
	var e entryState
	e.supervisor, _ = readPid(filepath.Join(dir, supervisorPID))
	e.app, _ = readPid(filepath.Join(dir, appPID))
	e.supervised = alive(e.supervisor.pid, e.supervisor.start)
	e.appRunning = groupAlive(e.app)
	e.done = exists(filepath.Join(dir, doneFile))
	return e
}

func (e entryState) gone() bool { return !e.supervised && !e.appRunning }

func (l *Launcher) readPod(pod string) (*podRecord, error) {
	var rec podRecord
	if err := readJSON(filepath.Join(l.procDir(pod), podFile), &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// entryDirs lists the entry point directories of the pod on disk.
func (l *Launcher) entryDirs(pod string) ([]string, error) {
	ents, err := os.ReadDir(l.procDir(pod))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(l.procDir(pod), e.Name()))
		}
	}
	return dirs, nil
}

// Stop ends every process of the pod: each supervisor stops restarting and sends SIGTERM to its
// app's process group, and whatever still runs after grace is SIGKILLed, as is everything at
// once when ctx ends first. It returns when all of them are gone, then removes the pod's
// process state (its logs stay). A grace of zero or less means the grace period of the
// manifest the pod was launched with, or DefaultGracePeriod. Stopping a pod that runs nothing
// is not an error.
func (l *Launcher) Stop(ctx context.Context, podID string, grace time.Duration) error {
	if err := manifest.ValidateID(podID); err != nil {
		return fmt.Errorf("stop pod: %w", err)
	}
	unlock := l.lock(podID)
	defer unlock()
	if grace <= 0 {
		grace = DefaultGracePeriod
		if rec, err := l.readPod(podID); err == nil && rec.Grace > 0 {
			grace = rec.Grace
		}
	}
	return l.stop(ctx, podID, grace)
}

// target is one entry point being stopped.
type target struct {
	dir string
	app pidRecord // the last app pid record seen, kept after the supervisor removes the file
	entryState
}

func (t *target) refresh(l *Launcher) {
	last := t.app
	t.entryState = l.entryState(t.dir)
	if t.entryState.app.pid == 0 {
		// The file is gone once the leader has ended; the group may still have members.
		t.entryState.app = last
		t.entryState.appRunning = groupAlive(last)
	}
	t.app = t.entryState.app
}

func (l *Launcher) stop(ctx context.Context, pod string, grace time.Duration) error {
	log := l.log.With(zap.String("pod", pod))
	dirs, err := l.entryDirs(pod)
	if err != nil {
		return fmt.Errorf("stop pod %s: %w", pod, err)
	}
	targets := make([]*target, len(dirs))
	for i, dir := range dirs {
		t := &target{dir: dir}
		t.refresh(l)
		targets[i] = t
		if t.gone() {
			continue
		}
		if err := writeAtomic(filepath.Join(dir, stopFile), []byte(grace.String())); err != nil {
			log.Warn("write stop request", zap.String("dir", dir), zap.Error(err))
		}
		if t.supervised {
			err = signalProcess(t.supervisor, syscall.SIGTERM)
		} else {
			err = signalGroup(t.app, syscall.SIGTERM)
		}
		if err != nil {
			return fmt.Errorf("stop pod %s entry %s: %w", pod, filepath.Base(dir), err)
		}
	}
	allGone := func() bool {
		for _, t := range targets {
			t.refresh(l)
			if !t.gone() {
				return false
			}
		}
		return true
	}
	if !waitUntil(ctx, time.Now().Add(grace), allGone) {
		log.Warn("pod did not stop within its grace period; killing", zap.Duration("grace", grace))
		// The apps first, so their supervisors can reap them and exit on their own.
		for _, t := range targets {
			_ = signalGroup(t.app, syscall.SIGKILL)
		}
		appsGone := func() bool {
			for _, t := range targets {
				t.refresh(l)
				if t.appRunning {
					_ = signalGroup(t.app, syscall.SIGKILL)
					return false
				}
			}
			return true
		}
		waitUntil(context.Background(), time.Now().Add(killTimeout/2), appsGone)
		for _, t := range targets {
			t.refresh(l)
			_ = signalProcess(t.supervisor, syscall.SIGKILL)
		}
		if !waitUntil(context.Background(), time.Now().Add(killTimeout/2), allGone) {
			var left []string
			for _, t := range targets {
				if !t.gone() {
					left = append(left, filepath.Base(t.dir))
				}
			}
			return fmt.Errorf("stop pod %s: still running after SIGKILL: %v", pod, left)
		}
	}
	if err := os.RemoveAll(l.procDir(pod)); err != nil {
		return fmt.Errorf("stop pod %s: %w", pod, err)
	}
	log.Info("pod stopped")
	return nil
}

// waitUntil polls done until it reports true (and returns true), deadline passes or ctx ends.
func waitUntil(ctx context.Context, deadline time.Time, done func() bool) bool {
	t := time.NewTicker(stopPoll)
	defer t.Stop()
	for {
		if done() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return done()
		case <-t.C:
		}
	}
}

// Running reports the manifest digest the pod runs: ok is true when the pod was launched and
// every entry point of that launch has a running supervisor or app, or has ended under
// restart_policy never. A pod launched only in part (the launcher died mid-launch) or whose
// supervisors are gone is not running.
func (l *Launcher) Running(podID string) (digest string, ok bool) {
	if manifest.ValidateID(podID) != nil {
		return "", false
	}
	rec, err := l.readPod(podID)
	if err != nil || len(rec.Entries) == 0 {
		return "", false
	}
	for _, name := range rec.Entries {
		e := l.entryState(l.entryDir(podID, name))
		if !e.supervised && !e.appRunning && !e.done {
			return "", false
		}
	}
	return rec.Digest, true
}

// Pods returns, sorted, the pods that have process state under the pod root: those launched
// and not stopped since.
func (l *Launcher) Pods() ([]string, error) {
	ents, err := os.ReadDir(l.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pods under %s: %w", l.root, err)
	}
	var pods []string
	for _, e := range ents {
		if e.IsDir() && manifest.ValidateID(e.Name()) == nil && exists(l.procDir(e.Name())) {
			pods = append(pods, e.Name())
		}
	}
	return pods, nil
}

// Process describes one entry point of a pod.
type Process struct {
	// Process is the status record's view: launchable, entry point, pid (0 when the app does
	// not run), last exit and restarts (under restart_policy always, since the pod was
	// launched). An app whose exit was not seen (adopted after its supervisor died) has the
	// exit code -1 and no signal.
	status.Process
	// Running reports whether the app runs.
	Running bool
	// Supervised reports whether the app's supervisor runs.
	Supervised bool
}

// Describe returns every entry point of the pod, sorted by launchable and entry point. A pod
// without process state has none.
func (l *Launcher) Describe(podID string) ([]Process, error) {
	if err := manifest.ValidateID(podID); err != nil {
		return nil, fmt.Errorf("describe pod: %w", err)
	}
	dirs, err := l.entryDirs(podID)
	if err != nil {
		return nil, fmt.Errorf("describe pod %s: %w", podID, err)
	}
	procs := make([]Process, 0, len(dirs))
	for _, dir := range dirs {
		var s spec
		if err := readJSON(filepath.Join(dir, specFile), &s); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // being created or removed
			}
			return nil, fmt.Errorf("describe pod %s: %w", podID, err)
		}
		e := l.entryState(dir)
		p := Process{
			Process: status.Process{
				Launchable: s.Launchable,
				EntryPoint: s.EntryPoint,
				LastExit:   readLastExit(dir),
				Restarts:   readRestarts(dir),
			},
			Running:    e.appRunning,
			Supervised: e.supervised,
		}
		if e.appRunning {
			p.PID = e.app.pid
		}
		procs = append(procs, p)
	}
	sort.Slice(procs, func(i, j int) bool {
		if procs[i].Launchable != procs[j].Launchable {
			return procs[i].Launchable < procs[j].Launchable
		}
		return procs[i].EntryPoint < procs[j].EntryPoint
	})
	return procs, nil
}

// Processes returns the pod's entry points as its status record lists them; see Describe.
func (l *Launcher) Processes(podID string) ([]status.Process, error) {
	procs, err := l.Describe(podID)
	if err != nil {
		return nil, err
	}
	out := make([]status.Process, len(procs))
	for i, p := range procs {
		out[i] = p.Process
	}
	return out, nil
}
