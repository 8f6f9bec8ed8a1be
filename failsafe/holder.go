package failsafe

import (
	"context"

	"github.com/p2kit/p2kit/kv"
)

// holder is the Source a HoldIf guard returns.
type holder[T any] struct {
	h     *Holds
	guard string
	judge Judge[T]
	inner kv.Source[T]

	// sentAny is set once the consumer has received a batch.
	sentAny bool
	// hold is the hold in effect, nil when none is.
	hold *hold
	// net is the net change from the consumer's view to the upstream
	// state since the hold began.
	net *netChange[T]
}

// Next implements kv.Source. It is cancel-safe: the guard's state changes
// only after the inner source has returned a batch.
func (g *holder[T]) Next(ctx context.Context) (*kv.Batch[T], error) {
	for {
		if g.hold != nil {
			b, err := g.nextHeld(ctx)
			if b != nil || err != nil {
				return b, err
			}
			continue
		}
		b, err := g.inner.Next(ctx)
		if err != nil {
			return nil, err
		}
		if Released(b) {
			// An operator released this change upstream: it is not
			// judged again.
			return g.deliver(b), nil
		}
		c := batchChange(b)
		c.Initial = !g.sentAny
		reason := g.judge(c)
		if reason == "" {
			return g.deliver(b), nil
		}
		g.start(b, c, reason)
	}
}

func (g *holder[T]) deliver(b *kv.Batch[T]) *kv.Batch[T] {
	g.sentAny = true
	return b
}

// start begins a hold on b, which the consumer does not receive.
func (g *holder[T]) start(b *kv.Batch[T], c Change[T], reason string) {
	g.net = newNetChange[T]()
	g.net.apply(b)
	g.hold = g.h.begin(Record{
		Guard:    g.guard,
		Reason:   reason,
		Revision: b.Revision,
		Deletes:  c.Deletes,
		Total:    c.Before.Len(),
	})
}

// nextHeld waits for the next upstream batch or a release while a hold is
// in effect. It returns a batch when the hold ended with something to
// deliver, and nil, nil when the caller should go on.
func (g *holder[T]) nextHeld(ctx context.Context) (*kv.Batch[T], error) {
	hd := g.hold
	if hd.isReleased() {
		return g.finish(true), nil
	}
	// Wait on the upstream and the release at once: a release cancels
	// the inner Next, which loses nothing.
	ictx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(hd.releaseCtx, cancel)
	b, err := g.inner.Next(ictx)
	stop()
	cancel()
	if err != nil {
		if ctx.Err() == nil && hd.isReleased() {
			return g.finish(true), nil
		}
		return nil, err
	}
	g.net.apply(b)
	if hd.isReleased() {
		return g.finish(true), nil
	}
	c := g.net.change()
	c.Held = true
	c.Initial = !g.sentAny
	if reason := g.judge(c); reason != "" {
		g.h.still(hd, reason, b.Revision, c.Deletes, c.Creates, c.Mutates)
		return nil, nil
	}
	return g.finish(false), nil
}

// finish ends the hold and returns the net change to deliver, or nil when
// there is nothing to deliver.
func (g *holder[T]) finish(released bool) *kv.Batch[T] {
	n := g.net
	d, c, m := n.counts()
	g.h.end(g.hold, released, d, c, m)
	g.hold, g.net = nil, nil
	b := n.batch(!g.sentAny)
	if b == nil {
		return nil
	}
	if released {
		b.After = markReleased(b.After)
	}
	return g.deliver(b)
}
