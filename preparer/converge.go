package preparer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"go.uber.org/zap"
)

// reconcile brings one pod to its intent: level-triggered, it reads the
// desired manifest, what reality says and what the launcher runs, and does
// what the difference asks for.
func (p *Preparer) reconcile(ctx context.Context, pod string) error {
	l := p.lockPod(pod)
	defer l.Unlock()

	p.mu.Lock()
	want := p.desired.Value(pod)
	badErr := p.badIntent.Value(pod)
	real := p.real.Value(pod)
	p.mu.Unlock()

	if pod == p.selfPod {
		return p.markSelf(ctx, want, real)
	}
	if badErr != nil {
		// The last good intent, if there is one, stays in force; the
		// record says what is wrong with the new one.
		var err error
		if want != nil {
			err = p.install(ctx, want, real)
		}
		p.reportError(ctx, pod, want, fmt.Errorf("intent: %w", badErr))
		return err
	}
	if want == nil {
		return p.remove(ctx, pod, real)
	}
	return p.install(ctx, want, real)
}

// markSelf writes the preparer's own pod to reality to show that it sees
// itself; it never installs it.
func (p *Preparer) markSelf(ctx context.Context, want *manifest.Manifest, real *kv.Object[manifest.Manifest]) error {
	if want == nil || (real != nil && manifest.SameVersion(want, &real.Value)) {
		return nil
	}
	return p.writeReality(ctx, want, real)
}

// install installs, launches or upgrades pod to want. The running version
// is stopped only once the new one is installed, and reality is written
// only after a successful launch.
func (p *Preparer) install(ctx context.Context, want *manifest.Manifest, real *kv.Object[manifest.Manifest]) error {
	if refused, err := p.verify(ctx, want); refused {
		return err
	}
	pod := want.ID
	digest, err := want.Digest()
	if err != nil {
		return p.fail(ctx, want, fmt.Errorf("digest: %w", err))
	}
	running, isRunning := p.launch.Running(pod)
	if isRunning && running == digest && real != nil && manifest.SameVersion(want, &real.Value) {
		// A preparer killed between writing reality and pruning left
		// the old versions on disk: prune once per run of the preparer.
		p.prune(ctx, pod, digest)
		return p.reportLaunched(ctx, want, digest)
	}

	dir, err := p.inst.Install(ctx, want)
	if err != nil {
		return p.fail(ctx, want, fmt.Errorf("install: %w", err))
	}
	if !isRunning || running != digest {
		if isRunning {
			grace := want.GracePeriod()
			if real != nil {
				grace = real.Value.GracePeriod()
			}
			if err := p.launch.Stop(ctx, pod, grace); err != nil {
				return p.fail(ctx, want, fmt.Errorf("stop running version %s: %w", running, err))
			}
		}
		if err := p.inst.Hook(ctx, want, dir, HookBeforeLaunch); err != nil {
			return p.fail(ctx, want, err)
		}
		if err := p.launch.Launch(ctx, want, dir); err != nil {
			return p.fail(ctx, want, fmt.Errorf("launch: %w", err))
		}
		if err := p.inst.Hook(ctx, want, dir, HookAfterLaunch); err != nil {
			return p.fail(ctx, want, err)
		}
		p.m.installs.Inc()
		p.log.Info("pod launched", zap.String("pod", pod), zap.String("digest", digest))
	}
	if real == nil || !manifest.SameVersion(want, &real.Value) {
		if err := p.writeReality(ctx, want, real); err != nil {
			return err
		}
	}
	p.prune(ctx, pod, digest)
	return p.reportLaunched(ctx, want, digest)
}

// prune removes the pod's installs other than digest, unless this run of
// the preparer did so already.
func (p *Preparer) prune(ctx context.Context, pod, digest string) {
	p.mu.Lock()
	done := p.pruned.Value(pod) == digest
	p.mu.Unlock()
	if done {
		return
	}
	if err := p.inst.Prune(ctx, pod, digest); err != nil {
		p.log.Warn("prune old installs", zap.String("pod", pod), zap.Error(err))
		return
	}
	p.mu.Lock()
	p.pruned.Set(pod, digest)
	p.mu.Unlock()
}

// remove stops and uninstalls a pod that is no longer in intent.
func (p *Preparer) remove(ctx context.Context, pod string, real *kv.Object[manifest.Manifest]) error {
	_, isRunning := p.launch.Running(pod)
	var grace time.Duration
	if real != nil {
		grace = real.Value.GracePeriod()
	}
	if isRunning {
		if err := p.launch.Stop(ctx, pod, grace); err != nil {
			return p.removeFailed(ctx, pod, real, fmt.Errorf("stop %s: %w", pod, err))
		}
	}
	if err := p.inst.Uninstall(ctx, pod); err != nil {
		return p.removeFailed(ctx, pod, real, fmt.Errorf("uninstall %s: %w", pod, err))
	}
	if real != nil {
		rctx, cancel := requestContext(ctx)
		err := p.reality.Delete(rctx, p.node, pod, kv.IfModRevision(real.ModRevision))
		cancel()
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("reality %s/%s: %w", p.node, pod, err)
		}
		p.mu.Lock()
		p.real.Delete(pod)
		p.pruned.Delete(pod)
		p.mu.Unlock()
	}
	if isRunning || real != nil {
		p.m.uninstalls.Inc()
		p.log.Info("pod removed", zap.String("pod", pod))
	}
	p.mu.Lock()
	hadStatus := p.lastStatus.Has(pod)
	p.mu.Unlock()
	if isRunning || real != nil || hadStatus {
		return p.setStatus(ctx, pod, status.PodStatus{Status: status.Removed, Health: status.Unknown})
	}
	return nil
}

// removeFailed records a removal that failed in the pod's status, with the
// digest of what reality says is installed, and returns err so the removal
// is retried with backoff.
func (p *Preparer) removeFailed(ctx context.Context, pod string, real *kv.Object[manifest.Manifest], err error) error {
	var installed *manifest.Manifest
	if real != nil {
		installed = &real.Value
	}
	err = fmt.Errorf("pod %s: %w", pod, err)
	p.reportError(ctx, pod, installed, err)
	return err
}

// writeReality records want as installed, with compare-and-swap on what the
// preparer last read or wrote.
func (p *Preparer) writeReality(ctx context.Context, want *manifest.Manifest, real *kv.Object[manifest.Manifest]) error {
	ctx, cancel := requestContext(ctx)
	defer cancel()
	var obj *kv.Object[manifest.Manifest]
	var err error
	if real == nil {
		obj, err = p.reality.Create(ctx, p.node, want)
	} else {
		obj, err = p.reality.Update(ctx, real, want)
	}
	if errors.Is(err, kv.ErrExists) || errors.Is(err, kv.ErrConflict) {
		// Someone else wrote this node's reality; read it and try again.
		cur, gerr := p.reality.Get(ctx, p.node, want.ID)
		switch {
		case errors.Is(gerr, kv.ErrNotFound):
			obj, err = p.reality.Create(ctx, p.node, want)
		case gerr != nil:
			return fmt.Errorf("reality %s/%s: %w", p.node, want.ID, gerr)
		default:
			obj, err = p.reality.Update(ctx, cur, want)
		}
	}
	if err != nil {
		return fmt.Errorf("reality %s/%s: %w", p.node, want.ID, err)
	}
	p.mu.Lock()
	p.real.Set(want.ID, obj)
	p.mu.Unlock()
	return nil
}

// fail records a failed action in the pod's status and returns err so the
// pod is retried with backoff.
func (p *Preparer) fail(ctx context.Context, want *manifest.Manifest, err error) error {
	err = fmt.Errorf("pod %s: %w", want.ID, err)
	p.reportError(ctx, want.ID, want, err)
	return err
}

func (p *Preparer) reportError(ctx context.Context, pod string, want *manifest.Manifest, err error) {
	st := status.PodStatus{Status: status.Failed, Health: status.Unknown, Error: err.Error()}
	if want != nil {
		st.ManifestDigest, _ = want.Digest()
	}
	if procs, perr := p.launch.Processes(pod); perr == nil {
		st.Processes = procs
	}
	if serr := p.setStatus(ctx, pod, st); serr != nil {
		p.log.Warn("write pod status", zap.String("pod", pod), zap.Error(serr))
	}
}

// reportLaunched records a launched pod, keeping the health it had if the
// version did not change.
func (p *Preparer) reportLaunched(ctx context.Context, want *manifest.Manifest, digest string) error {
	st := status.PodStatus{Status: status.Launched, ManifestDigest: digest, Health: status.Unknown}
	p.mu.Lock()
	if last, ok := p.lastStatus.Get(want.ID); ok && last.ManifestDigest == digest && last.Status == status.Launched {
		st.Health = last.Health
	}
	p.mu.Unlock()
	if procs, err := p.launch.Processes(want.ID); err == nil {
		st.Processes = procs
	}
	return p.setStatus(ctx, want.ID, st)
}

// setStatus writes the pod's status record when it differs from the last
// one written.
func (p *Preparer) setStatus(ctx context.Context, pod string, st status.PodStatus) error {
	p.mu.Lock()
	last, ok := p.lastStatus.Get(pod)
	p.mu.Unlock()
	if ok && sameStatus(*last, st) {
		return nil
	}
	st.UpdatedAt = time.Now().UTC()
	ctx, cancel := requestContext(ctx)
	defer cancel()
	if _, err := p.statuses.Set(ctx, p.node, pod, &st); err != nil {
		return fmt.Errorf("status %s/%s: %w", p.node, pod, err)
	}
	p.mu.Lock()
	p.lastStatus.Set(pod, &st)
	p.mu.Unlock()
	return nil
}

func sameStatus(a, b status.PodStatus) bool {
	if a.Status != b.Status || a.ManifestDigest != b.ManifestDigest || a.Health != b.Health ||
		a.Error != b.Error || len(a.Processes) != len(b.Processes) {
		return false
	}
	for i := range a.Processes {
		x, y := a.Processes[i], b.Processes[i]
		if x.Launchable != y.Launchable || x.EntryPoint != y.EntryPoint || x.PID != y.PID || x.Restarts != y.Restarts ||
			(x.LastExit == nil) != (y.LastExit == nil) || (x.LastExit != nil && !x.LastExit.At.Equal(y.LastExit.At)) {
			return false
		}
	}
	return true
}
