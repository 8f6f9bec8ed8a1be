package failsafe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// namedJudge is one guard of a stage.
type namedJudge[T any] struct {
	guard string
	judge Judge[T]
}

// stage is the Source that HoldIf guards over one Holds return: every
// batch is judged by all of the stage's judges against one consumer view,
// and one hold is in effect at most.
type stage[T any] struct {
	wrapped[T]
	h      *Holds
	judges []namedJudge[T]
	name   string // the guards, sorted and comma-separated

	// used is set once Next was called: a later HoldIf wraps the stage
	// instead of joining it.
	used bool
	// sentAny is set once the consumer has received a batch.
	sentAny bool

	// hold is the hold in effect, nil when none is.
	hold *Hold
	// mu guards net against the hold record's writer, which lists the
	// held keys.
	mu sync.Mutex
	// net is the net change from the consumer's view to the upstream
	// state since the hold began.
	net *netChange[T]
	// recheckAt is when a judge asked to be judged again; zero: never.
	recheckAt time.Time
}

func newStage[T any](h *Holds, src kv.Source[T], guard string, judge Judge[T]) *stage[T] {
	return &stage[T]{wrapped: wrapped[T]{src}, h: h, judges: []namedJudge[T]{{guard, judge}}, name: guard}
}

// join returns a stage with the judges of s and judge, over s's source.
func (s *stage[T]) join(guard string, judge Judge[T]) *stage[T] {
	judges := append(slices.Clip(s.judges), namedJudge[T]{guard, judge})
	names := make([]string, 0, len(judges))
	for _, j := range judges {
		names = append(names, j.guard)
	}
	sort.Strings(names)
	return &stage[T]{wrapped: s.wrapped, h: s.h, judges: judges, name: strings.Join(slices.Compact(names), ",")}
}

// stageVerdict is what the judges of a stage said about one change.
type stageVerdict struct {
	guards  string // the guards that hold, sorted and comma-separated
	reason  string
	recheck time.Duration // the shortest RecheckAfter asked for
}

func (v stageVerdict) holds() bool { return v.guards != "" }

// judge asks every judge of the stage, so that the record names every
// guard that holds, whatever their order.
func (s *stage[T]) judge(ctx context.Context, c *Change[T]) stageVerdict {
	var v stageVerdict
	var first, firstGuard string // the common case: at most one holds
	var holding [][2]string      // guard, reason: when several hold
	for _, j := range s.judges {
		r := j.judge(ctx, *c)
		if r.RecheckAfter > 0 && (v.recheck == 0 || r.RecheckAfter < v.recheck) {
			v.recheck = r.RecheckAfter
		}
		switch {
		case r.Hold == "":
		case first == "":
			first, firstGuard = r.Hold, j.guard
		default:
			if holding == nil {
				holding = append(holding, [2]string{firstGuard, first})
			}
			holding = append(holding, [2]string{j.guard, r.Hold})
		}
	}
	if holding == nil {
		v.guards, v.reason = firstGuard, first
		return v
	}
	sort.SliceStable(holding, func(a, b int) bool { return holding[a][0] < holding[b][0] })
	guards := make([]string, 0, len(holding))
	reasons := make([]string, 0, len(holding))
	for _, h := range holding {
		if len(guards) == 0 || guards[len(guards)-1] != h[0] {
			guards = append(guards, h[0])
		}
		reasons = append(reasons, h[1])
	}
	v.guards = strings.Join(guards, ",")
	v.reason = strings.Join(reasons, "; ")
	return v
}

// Next implements kv.Source. It is cancel-safe: the stage's state changes
// only after the inner source has returned a batch.
func (s *stage[T]) Next(ctx context.Context) (*kv.Batch[T], error) {
	s.used = true
	for {
		if s.hold != nil {
			b, err := s.nextHeld(ctx)
			if b != nil || err != nil {
				return b, err
			}
			continue
		}
		b, err := s.inner.Next(ctx)
		if err != nil {
			return nil, err
		}
		if out := s.take(ctx, b); out != nil {
			return out, nil
		}
	}
}

// take judges a batch from the inner source: it returns what to deliver,
// or nil when the batch is held. Next's frame stays small without it: a
// consumer's goroutine waits in Next, and a goroutine's stack shrinks only
// while it uses less than a quarter of it.
func (s *stage[T]) take(ctx context.Context, b *kv.Batch[T]) *kv.Batch[T] {
	if b.Released {
		// An operator released this change upstream: it is not
		// judged again.
		return s.deliver(b)
	}
	c := BatchChange(b)
	c.Initial = !s.sentAny
	if c.Initial && b.Kind == kv.Initial && b.Before.Len() > 0 {
		// The consumer acted on a state before (StartFrom): take up
		// the hold an earlier run of this stage left, if any.
		if rec, ok := s.earlierHold(); ok {
			s.setNet(b)
			s.hold = s.h.takeOver(rec)
			s.watchKeys()
			return s.rejudge(ctx)
		}
	}
	v := s.judge(ctx, &c)
	if !v.holds() {
		return s.deliver(b)
	}
	s.begin(b, c, v)
	return nil
}

func (s *stage[T]) deliver(b *kv.Batch[T]) *kv.Batch[T] {
	s.sentAny = true
	return b
}

func (s *stage[T]) setNet(b *kv.Batch[T]) {
	n := newNetChange[T]()
	n.apply(b)
	s.mu.Lock()
	s.net = n
	s.mu.Unlock()
}

func (s *stage[T]) apply(b *kv.Batch[T]) {
	s.mu.Lock()
	s.net.apply(b)
	s.mu.Unlock()
}

// watchKeys makes the hold's record list the keys held back.
func (s *stage[T]) watchKeys() {
	s.hold.setKeys(func() []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.net == nil {
			return nil
		}
		return s.net.heldKeys(MaxRecordKeys)
	})
}

// begin starts a hold on b, which the consumer does not receive.
func (s *stage[T]) begin(b *kv.Batch[T], c Change[T], v stageVerdict) {
	s.setNet(b)
	// The keys go in the record written at once, not only in the next
	// write: readers of a fresh hold (p2ctl, the dashboard) see them.
	s.mu.Lock()
	keys := s.net.heldKeys(MaxRecordKeys)
	s.mu.Unlock()
	s.hold = s.h.Begin(Record{
		Guard: v.guards, Stage: s.name, Reason: v.reason, Revision: b.Revision,
		Deletes: c.Deletes, Creates: c.Creates, Mutates: c.Mutates, Total: c.Before.Len(), Keys: keys,
	})
	s.watchKeys()
	s.setRecheck(v)
}

func (s *stage[T]) setRecheck(v stageVerdict) {
	s.recheckAt = time.Time{}
	if v.recheck > 0 {
		s.recheckAt = time.Now().Add(v.recheck)
	}
}

// nextHeld waits for the next upstream batch, a release or a recheck
// while a hold is in effect. It returns a batch when the hold ended with
// something to deliver, and nil, nil when the caller should go on.
func (s *stage[T]) nextHeld(ctx context.Context) (*kv.Batch[T], error) {
	hd := s.hold
	if hd.isReleased() {
		return s.released(ctx)
	}
	// Wait on the upstream, the release and the recheck at once: either
	// of the last two cancels the inner Next, which loses nothing.
	ictx, cancel := context.WithCancel(ctx)
	stop := hd.afterRelease(cancel)
	var recheck atomic.Bool
	var timer *time.Timer
	if !s.recheckAt.IsZero() {
		timer = time.AfterFunc(time.Until(s.recheckAt), func() { recheck.Store(true); cancel() })
	}
	b, err := s.inner.Next(ictx)
	stop()
	cancel()
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, err
		case hd.isReleased():
			return s.released(ctx)
		case recheck.Load():
			return s.rejudge(ctx), nil
		}
		return nil, err
	}
	s.apply(b)
	if hd.isReleased() {
		return s.released(ctx)
	}
	return s.rejudge(ctx), nil
}

// rejudge judges the net change of the hold in effect. It ends the hold
// when no judge holds and the net change deletes no key, and returns what
// to deliver then (nil: nothing).
func (s *stage[T]) rejudge(ctx context.Context) *kv.Batch[T] {
	c := s.net.change()
	c.Held = true
	c.Initial = !s.sentAny
	v := s.judge(ctx, &c)
	if !v.holds() && c.Deletes == 0 {
		return s.finish(false)
	}
	s.setRecheck(v)
	if !v.holds() {
		v.reason = fmt.Sprintf("waiting for %d deleted of %d keys to come back", c.Deletes, c.Before.Len())
	}
	s.h.still(s.hold, Record{
		Guard: v.guards, Reason: v.reason,
		Deletes: c.Deletes, Creates: c.Creates, Mutates: c.Mutates, Total: c.Before.Len(),
	})
	return nil
}

// released delivers the net change of a released hold, once the source
// has been read up to the release's revision: a key written back in the
// same transaction as the release is then no delete.
func (s *stage[T]) released(ctx context.Context) (*kv.Batch[T], error) {
	if err := s.catchUp(ctx, s.hold.ReleaseRevision()); err != nil {
		return nil, err
	}
	return s.finish(true), nil
}

// maxCatchUpWait bounds how long catchUp waits for an answer before it
// asks etcd again.
const maxCatchUpWait = 16 * time.Second

// catchUp reads the source until its state reflects rev, when the source
// can tell its revision (kv.Progress).
func (s *stage[T]) catchUp(ctx context.Context, rev int64) error {
	p, ok := progressOf(s.inner)
	if !ok || rev == 0 {
		return nil
	}
	// Each round asks etcd again, after twice as long as the last (to
	// maxCatchUpWait): an etcd that answers late, and on servers before
	// 3.4.24 and 3.5.8 the listing that confirms an answer (see
	// kv.Watcher.RequestProgress), is not asked again and again.
	wait := time.Second
	for ; p.Revision() < rev; wait = min(2*wait, maxCatchUpWait) {
		if err := p.RequestProgress(ctx); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		// Wait for a batch, or for the progress notification to move
		// the source's revision past rev; ask again after a while.
		ictx, cancel := context.WithTimeout(ctx, wait)
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ictx.Done():
					return
				case <-t.C:
					if p.Revision() >= rev {
						cancel()
						return
					}
				}
			}
		}()
		b, err := s.inner.Next(ictx)
		cancel()
		<-done
		if b != nil {
			s.apply(b)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
		}
	}
	return nil
}

// finish ends the hold and returns the net change to deliver, or nil when
// there is nothing to deliver.
func (s *stage[T]) finish(released bool) *kv.Batch[T] {
	n := s.net
	d, c, m := n.counts()
	rec := s.hold.Record()
	rec.Deletes, rec.Creates, rec.Mutates = d, c, m
	s.hold.Update(rec)
	s.hold.End(released)
	s.hold, s.recheckAt = nil, time.Time{}
	s.mu.Lock()
	s.net = nil
	s.mu.Unlock()
	b := n.batch(!s.sentAny)
	if b == nil {
		return nil
	}
	b.Released = released
	return s.deliver(b)
}

// earlierHold finds the record of a hold an earlier run of this stage
// left: same component, same stage, not in effect in this process.
//
// It does not end with the caller's context: the batch is taken from the
// source already, and a lookup given up half way would judge it as if no
// hold had been left.
func (s *stage[T]) earlierHold() (Record, bool) {
	h := s.h
	if h.client == nil {
		return Record{}, false
	}
	dir := HoldKey(h.prefix, IDPrefix(h.component))
	gctx, cancel := h.opCtx(opTimeout)
	defer cancel()
	resp, err := h.client.Get(gctx, dir, clientv3.WithPrefix())
	if err != nil {
		h.log.Warn("look for a hold of an earlier run failed; judging the first listing as it is",
			zap.String("prefix", dir), zap.Error(err))
		return Record{}, false
	}
	for _, kvp := range resp.Kvs {
		var rec Record
		if err := json.Unmarshal(kvp.Value, &rec); err != nil {
			h.log.Warn("undecodable hold record", zap.String("key", string(kvp.Key)), zap.Error(err))
			continue
		}
		if rec.Component != h.component || rec.Stage != s.name || rec.ID == "" {
			continue
		}
		h.mu.Lock()
		live := h.live.Has(rec.ID)
		h.mu.Unlock()
		if !live {
			return rec, true
		}
	}
	return Record{}, false
}
