package roll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// reconcile takes one step of a roll, derived from the whole current
// state: the roll, both RCs read from etcd, the pods' health in the fleet
// view, and the roll's status record (when it started, when it last
// stepped).
func (f *Farm) reconcile(ctx context.Context, id string, fence farm.Fence) error {
	obj, err := f.rolls.Get(ctx, id)
	if errors.Is(err, kv.ErrNotFound) {
		return nil // its delete is held by the guard: nothing to do until it passes
	}
	if err != nil {
		return err
	}
	r := &obj.Value
	log := f.log.With(zap.String("roll", id))
	now := time.Now().UTC().Truncate(time.Millisecond)

	cur, err := f.readStatus(ctx, id)
	if err != nil {
		return err
	}
	// Every write for the roll compares its revision: a pause, an abort
	// or a delete made after this read voids the step decided from it.
	guard := append(fence.Cmps(), f.rolls.KV().Unchanged(obj))
	st := Status{Phase: Running, OldRC: r.OldRC, NewRC: r.NewRC, DesiredReplicas: r.DesiredReplicas,
		MinimumReplicas: r.MinimumReplicas, RollRevision: obj.CreateRevision, StartedAt: now}
	if cur != nil && cur.RollRevision == obj.CreateRevision {
		if cur.Phase.Finished() {
			// The end is recorded but the roll is still there (written
			// by an earlier farm): delete it now.
			end := *cur
			return f.finish(ctx, obj, nil, &end, guard)
		}
		st.StartedAt, st.LastStepAt = cur.StartedAt, cur.LastStepAt
	}

	newRC, err := f.rcs.Get(ctx, r.NewRC)
	if errors.Is(err, kv.ErrNotFound) {
		st.Phase, st.Message = Failed, fmt.Sprintf("new rc %s is missing", r.NewRC)
		return f.finish(ctx, obj, nil, &st, guard)
	}
	if err != nil {
		return fmt.Errorf("new rc: %w", err)
	}
	oldRC, err := f.rcs.Get(ctx, r.OldRC)
	if errors.Is(err, kv.ErrNotFound) {
		oldRC = nil // deleted: nothing left to move from
	} else if err != nil {
		return fmt.Errorf("old rc: %w", err)
	}
	pods := []string{newRC.Value.Manifest.ID}
	if oldRC != nil && oldRC.Value.Manifest.ID != pods[0] {
		pods = append(pods, oldRC.Value.Manifest.ID)
	}
	f.track(id, pods...)

	s := state{D: r.DesiredReplicas, M: r.MinimumReplicas, N: newRC.Value.ReplicasDesired}
	s.HNew = min(f.healthy(&newRC.Value), s.N)
	var oldVal *rc.RC
	if oldRC != nil {
		oldVal = &oldRC.Value
		s.O = oldRC.Value.ReplicasDesired
		s.HOld = min(f.healthy(&oldRC.Value), s.O)
		s.SickOld = f.sick(&oldRC.Value)
	}
	st.OldReplicas, st.NewReplicas, st.OldHealthy, st.NewHealthy, st.Healthy = s.O, s.N, s.HOld, s.HNew, s.HOld+s.HNew

	if r.Paused {
		st.Phase = Paused
		st.Message = fmt.Sprintf("paused: %d of %d new pods healthy; no step until resumed", s.HNew, s.D)
		return f.writeStatus(ctx, id, cur, &st, guard)
	}

	if s.complete() {
		st.Phase = Done
		st.Message = fmt.Sprintf("new rc %s runs %d healthy replicas", r.NewRC, s.HNew)
		var drop *rc.Object
		switch {
		case oldRC == nil:
		case r.LeaveOld:
			st.Message += fmt.Sprintf("; old rc %s left at 0 replicas", r.OldRC)
		default:
			// The RC farm unschedules the old RC's last pods after its
			// scale to 0; deleting the RC before then would leave them
			// scheduled for good (a deleted RC's pods are never removed).
			if left := f.scheduled(r.OldRC); left > 0 {
				st.Phase = Running
				st.Message = fmt.Sprintf("waiting: old rc %s at 0 replicas still has %d pods scheduled", r.OldRC, left)
				return f.writeStatus(ctx, id, cur, &st, guard)
			}
			drop = oldRC
			st.Message += fmt.Sprintf("; old rc %s deleted", r.OldRC)
		}
		if err := f.finish(ctx, obj, drop, &st, guard); err != nil {
			return err
		}
		log.Info("roll done; roll deleted", zap.String("old_rc", r.OldRC), zap.Bool("old_rc_deleted", drop != nil))
		return nil
	}

	if d := r.Deadline.Std(); d > 0 {
		end := st.StartedAt.Add(d)
		if !now.Before(end) {
			st.Phase = Failed
			st.Message = fmt.Sprintf("deadline %s passed at %s: roll stopped with old rc %s at %d replicas (%d healthy) "+
				"and new rc %s at %d (%d healthy); nothing reverted",
				d, end.Format(time.RFC3339), r.OldRC, s.O, s.HOld, r.NewRC, s.N, s.HNew)
			if err := f.finish(ctx, obj, nil, &st, guard); err != nil {
				return err
			}
			log.Warn("roll deadline passed; stopped and deleted", zap.Duration("deadline", d))
			return nil
		}
		f.after(id, end.Sub(now))
	}

	if delay := r.RollDelay.Std(); delay > 0 && !st.LastStepAt.IsZero() {
		if next := st.LastStepAt.Add(delay); now.Before(next) {
			st.Message = fmt.Sprintf("waiting roll_delay %s before the next step", delay)
			f.after(id, next.Sub(now))
			return f.writeStatus(ctx, id, cur, &st, guard)
		}
	}

	o, n, why := s.next()
	if o == s.O && n == s.N {
		st.Message = why
		if b := f.viewBlocker(r, &newRC.Value, oldVal); b != "" {
			st.Message += "; cannot step: " + b
		}
		return f.writeStatus(ctx, id, cur, &st, guard)
	}
	st.OldReplicas, st.NewReplicas, st.LastStepAt = o, n, now
	st.Message = fmt.Sprintf("stepped: old rc %s %d -> %d, new rc %s %d -> %d", r.OldRC, s.O, o, r.NewRC, s.N, n)
	if err := f.step(ctx, id, oldRC, o, newRC, n, &st, guard); err != nil {
		return err
	}
	log.Info("roll step", zap.String("old_rc", r.OldRC), zap.Int("old_replicas", o),
		zap.String("new_rc", r.NewRC), zap.Int("new_replicas", n), zap.Int("healthy", s.HOld+s.HNew))
	if delay := r.RollDelay.Std(); delay > 0 {
		f.after(id, delay)
	}
	return nil
}

// state is what a roll step is decided from: replicas_desired of the old
// (O) and new (N) RC, their healthy pods (each at most its RC's
// replicas), the old RC's pods known to be failing (SickOld), the roll's
// desired (D) and minimum (M) replicas.
type state struct {
	O, N, HOld, HNew, SickOld, D, M int
}

// complete: the new RC runs D healthy pods and the old one is at 0.
func (s state) complete() bool { return s.O == 0 && s.N == s.D && s.HNew >= s.D }

// next returns the replicas of the old and new RC after one step, or the
// same replicas and why it waits. Replicas move from old to new only as
// far as the healthy pods stay at or above M once the moved old pods are
// gone; new pods not yet healthy count for nothing. Old pods known to be
// failing (SickOld) cost nothing to remove, since the RC farm removes
// unhealthy pods first: so a roll back from a version that never turned
// healthy moves. When nothing can move and every new pod is healthy, the
// new RC grows by one without taking from the old (a surge), so that a
// roll with M equal to D still moves.
func (s state) next() (o, n int, why string) {
	canRemove := min(s.SickOld, s.O-s.HOld) + max(0, s.HOld+s.HNew-s.M)
	waiting := fmt.Sprintf("waiting: %d of %d new pods healthy", s.HNew, s.N)
	if s.O > 0 {
		waiting += fmt.Sprintf(", %d of %d old; %d healthy, need minimum %d, so no old pod can go yet",
			s.HOld, s.O, s.HOld+s.HNew, s.M)
	}
	switch {
	case s.N < s.D && s.O > 0:
		if k := min(s.O, canRemove, s.D-s.N); k > 0 {
			return s.O - k, s.N + k, ""
		}
		if s.HNew >= s.N {
			return s.O, s.N + 1, ""
		}
		return s.O, s.N, waiting
	case s.N < s.D:
		return 0, s.D, ""
	case s.O > 0:
		if k := min(s.O, canRemove); k > 0 {
			return s.O - k, s.N, ""
		}
		return s.O, s.N, waiting
	case s.N > s.D:
		return 0, s.D, ""
	}
	return s.O, s.N, waiting
}

// step writes both RCs' new replicas, their audit records and the roll's
// status in one transaction, under guard (the roll's lock, the roll
// unchanged).
func (f *Farm) step(ctx context.Context, id string, oldRC *rc.Object, o int, newRC *rc.Object, n int, st *Status, guard []clientv3.Cmp) error {
	cmps := append([]clientv3.Cmp{}, guard...)
	var ops []clientv3.Op
	for _, w := range []struct {
		obj      *rc.Object
		replicas int
	}{{oldRC, o}, {newRC, n}} {
		if w.obj == nil || w.obj.Value.ReplicasDesired == w.replicas {
			continue
		}
		next := w.obj.Value
		next.ReplicasDesired = w.replicas
		cmp, op, err := f.rcs.KV().UpdateOp(w.obj, &next)
		if err != nil {
			return fmt.Errorf("scale rc %s: %w", w.obj.Name, err)
		}
		rec, err := f.rcs.Audit().Op(audit.Updated, rc.Dir, w.obj.Name, f.cfg.Actor, &next)
		if err != nil {
			return fmt.Errorf("scale rc %s: %w", w.obj.Name, err)
		}
		cmps = append(cmps, cmp)
		ops = append(ops, op, rec)
	}
	st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	sop, err := f.statuses.PutOp(status.Rolls, id, st)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if _, err := kv.Commit(ctx, f.client, cmps, append(ops, sop)...); err != nil {
		return fmt.Errorf("scale %s to %d and %s to %d: %w", st.OldRC, o, st.NewRC, n, err)
	}
	return nil
}

// halt records that a deleted roll stopped where it was, and forgets it.
// Both RCs stay as they are. Only a delete the guarded watch delivered
// counts: a roll missing while a mass delete is held is left alone.
func (f *Farm) halt(ctx context.Context, id string, fence farm.Fence) error {
	f.mu.Lock()
	f.untrackLocked(id)
	f.mu.Unlock()
	cur, err := f.readStatus(ctx, id)
	if err != nil {
		return err
	}
	if cur != nil && !cur.Phase.Finished() {
		st := *cur
		st.Phase = Halted
		st.Message = "roll deleted: halted; both RCs stay as they are"
		st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		key, err := f.rolls.Key(id)
		if err != nil {
			return err
		}
		op, err := f.statuses.PutOp(status.Rolls, id, &st)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		missing := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if _, err := kv.Commit(ctx, f.client, append(fence.Cmps(), missing), op); err != nil && !errors.Is(err, kv.ErrConflict) {
			return fmt.Errorf("write halted status: %w", err)
		}
	}
	return nil // the halt is recorded: the farm forgets the roll
}

// healthy counts the pods of r that run its manifest with health passing.
func (f *Farm) healthy(r *rc.RC) int {
	digest, err := r.Manifest.Digest()
	if err != nil {
		return 0
	}
	n := 0
	f.byRC.Range(r.ID, func(o *kv.Object[labels.Set]) bool {
		node, pod, _ := strings.Cut(o.Name, "/")
		if f.view.Healthy(node, pod, digest) {
			n++
		}
		return true
	})
	return n
}

// scheduled counts the pods labelled as RC id's: those it still has in
// intent.
func (f *Farm) scheduled(id string) int { return f.byRC.Len(id) }

// sick counts the pods of r whose preparer reports r's manifest failed or
// its health critical: pods that are down, not merely not yet seen
// healthy.
func (f *Farm) sick(r *rc.RC) int {
	digest, err := r.Manifest.Digest()
	if err != nil {
		return 0
	}
	n := 0
	f.byRC.Range(r.ID, func(o *kv.Object[labels.Set]) bool {
		s, ok := f.view.Status.Get(o.Name + "/" + status.PreparerNamespace)
		if ok && s.Value.ManifestDigest == digest && (s.Value.Status == status.Failed || s.Value.Health == status.Critical) {
			n++
		}
		return true
	})
	return n
}

// readStatus reads the roll's status record, nil when it has none (or an
// unreadable one, which the next write replaces).
func (f *Farm) readStatus(ctx context.Context, id string) (*Status, error) {
	o, err := f.statuses.Get(ctx, status.Rolls, id)
	var derr *kv.DecodeError
	switch {
	case err == nil:
		return &o.Value, nil
	case errors.Is(err, kv.ErrNotFound), errors.As(err, &derr):
		return nil, nil
	}
	return nil, fmt.Errorf("read status: %w", err)
}

// writeStatus writes st under guard unless it says what cur says.
func (f *Farm) writeStatus(ctx context.Context, id string, cur, st *Status, guard []clientv3.Cmp) error {
	if cur != nil && cur.same(st) {
		return nil
	}
	st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	op, err := f.statuses.PutOp(status.Rolls, id, st)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if _, err := kv.Commit(ctx, f.client, guard, op); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// finish ends a roll that is done or failed: its final status record, the
// delete of the roll (so that a new roll of its RCs is never blocked) and,
// when drop is set, the delete of the old RC at 0 replicas, each with its
// audit record, in one transaction under guard. The record stays as the
// roll's history.
func (f *Farm) finish(ctx context.Context, obj *Object, drop *rc.Object, st *Status, guard []clientv3.Cmp) error {
	id := obj.Name
	cmps := append([]clientv3.Cmp{}, guard...)
	var ops []clientv3.Op
	if drop != nil {
		if drop.Value.ReplicasDesired != 0 {
			return fmt.Errorf("old rc %s: %w: replicas_desired is %d", drop.Name, rc.ErrNotScaledDown, drop.Value.ReplicasDesired)
		}
		rec, err := f.rcs.Audit().Op(audit.Deleted, rc.Dir, drop.Name, f.cfg.Actor, &drop.Value)
		if err != nil {
			return fmt.Errorf("delete old rc: %w", err)
		}
		cmps = append(cmps, f.rcs.KV().Unchanged(drop))
		ops = append(ops, clientv3.OpDelete(drop.Key), rec)
	}
	rec, err := f.rolls.Audit().Op(audit.Deleted, Dir, id, f.cfg.Actor, &obj.Value)
	if err != nil {
		return err
	}
	st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	sop, err := f.statuses.PutOp(status.Rolls, id, st)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	ops = append(ops, clientv3.OpDelete(obj.Key), rec, sop)
	if _, err := kv.Commit(ctx, f.client, cmps, ops...); err != nil {
		return fmt.Errorf("record %s and delete the roll: %w", st.Phase, err)
	}
	return nil
}
