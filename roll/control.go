package roll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrFinished refuses to pause, resume or abort a roll that is over: its
// status record says done, failed or halted and the roll is gone.
var ErrFinished = errors.New("roll already finished")

// SetPaused sets or clears a roll's paused field. The farm takes no step
// while it is set; every step it writes compares the roll's revision, so a
// step decided before the pause is never written after it. A missing roll
// is ErrFinished when its status record says it finished, else
// kv.ErrNotFound.
func (s *Store) SetPaused(ctx context.Context, actor, id string, paused bool, opts ...WriteOption) (*Object, error) {
	obj, err := s.Modify(ctx, actor, id, func(r *Roll) error {
		r.Paused = paused
		return nil
	}, opts...)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, s.missing(ctx, id, err)
	}
	return obj, err
}

// Abort halts a roll: it deletes the roll, with its audit record, and
// writes its status record with phase Halted in one transaction. Both RCs
// stay as they are. It returns the status written.
func (s *Store) Abort(ctx context.Context, actor, id string) (*Status, error) {
	if actor == "" {
		return nil, errors.New("abort: actor: required")
	}
	for {
		obj, err := s.Get(ctx, id)
		if errors.Is(err, kv.ErrNotFound) {
			return nil, s.missing(ctx, id, err)
		}
		if err != nil {
			return nil, fmt.Errorf("abort: %w", err)
		}
		st, err := s.status(ctx, obj)
		if err != nil {
			return nil, err
		}
		st.Phase = Halted
		st.Message = fmt.Sprintf("aborted by %s: halted; both RCs stay as they are", actor)
		st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		sop, err := s.statuses.PutOp(status.Rolls, id, st)
		if err != nil {
			return nil, fmt.Errorf("abort %s: status: %w", obj.Key, err)
		}
		rec, err := s.Audit().Op(audit.Deleted, Kind, id, actor, &obj.Value)
		if err != nil {
			return nil, fmt.Errorf("abort %s: %w", obj.Key, err)
		}
		_, err = kv.Commit(ctx, s.KV().Client(), []clientv3.Cmp{s.KV().Unchanged(obj)},
			clientv3.OpDelete(obj.Key), rec, sop)
		if errors.Is(err, kv.ErrConflict) && ctx.Err() == nil {
			continue // the roll changed (a step, a pause): read it again
		}
		if err != nil {
			return nil, fmt.Errorf("abort %s: %w", obj.Key, err)
		}
		return st, nil
	}
}

// status returns the farm's record of the roll in obj, or a fresh one
// when the record is missing, unreadable or of an earlier roll of the
// same id.
func (s *Store) status(ctx context.Context, obj *Object) (*Status, error) {
	r := &obj.Value
	fresh := &Status{Phase: Running, OldRC: r.OldRC, NewRC: r.NewRC, DesiredReplicas: r.DesiredReplicas,
		MinimumReplicas: r.MinimumReplicas, RollRevision: obj.CreateRevision}
	cur, err := s.statuses.Get(ctx, status.Rolls, obj.Name)
	var derr *kv.DecodeError
	switch {
	case errors.Is(err, kv.ErrNotFound), errors.As(err, &derr):
		return fresh, nil
	case err != nil:
		return nil, fmt.Errorf("roll %s: read status: %w", obj.Name, err)
	case cur.Value.RollRevision != obj.CreateRevision:
		return fresh, nil
	}
	st := cur.Value
	return &st, nil
}

// missing turns the kv.ErrNotFound of a missing roll into ErrFinished when
// its status record says how it ended.
func (s *Store) missing(ctx context.Context, id string, notFound error) error {
	cur, err := s.statuses.Get(ctx, status.Rolls, id)
	if err != nil || !cur.Value.Phase.Finished() {
		return notFound
	}
	return fmt.Errorf("roll %s: %w: %s (%s)", id, ErrFinished, cur.Value.Phase, cur.Value.Message)
}
