package failsafe

import (
	"reflect"
	"sort"

	"github.com/p2kit/p2kit/internal/smallmap"
	"github.com/p2kit/p2kit/kv"
)

// class is what the net change does to one key.
type class int

const (
	same class = iota
	deleted
	created
	mutated
)

// classify compares the consumer's object c with the upstream object u
// (nil: absent). A key rewritten with an equal value is the same: a wipe
// followed by a restore of the same values is no change.
func classify[T any](c, u *kv.Object[T]) class {
	switch {
	case c == nil && u == nil:
		return same
	case u == nil:
		return deleted
	case c == nil:
		return created
	case c == u, c.ModRevision == u.ModRevision, reflect.DeepEqual(c.Value, u.Value):
		return same
	}
	return mutated
}

// pendingKey is the consumer's object for a key changed upstream since the
// hold began (nil: absent for the consumer), and what the net change does
// to it.
type pendingKey[T any] struct {
	obj *kv.Object[T]
	cls class
}

// netChange tracks the net change from the consumer's view to the upstream
// state while a hold is in effect. It keeps one entry per changed key, not
// the batches, and updates its counts per event, so judging never rescans
// the state.
type netChange[T any] struct {
	up      kv.View[T] // the upstream state after the latest batch
	rev     int64
	initial bool // the hold began on the Initial batch
	// pending holds the changed keys. A hold on one node's pods has a
	// few: a slice, not a Go map's group of eight, until it has more.
	pending smallmap.Map[*pendingKey[T]]
	n       [4]int // keys per class
}

func newNetChange[T any]() *netChange[T] { return &netChange[T]{} }

// apply takes one upstream batch into the net change.
func (n *netChange[T]) apply(b *kv.Batch[T]) {
	if n.up == nil {
		n.initial = b.Kind == kv.Initial
	}
	n.up, n.rev = b.After, b.Revision
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.Err != nil {
			continue // the upstream state kept its value
		}
		p, ok := n.pending.Get(ev.Name)
		if !ok {
			// Untouched since the hold began: the consumer has the
			// value the upstream had before this event.
			p = &pendingKey[T]{obj: ev.Old}
			n.pending.Set(ev.Name, p)
		} else {
			n.n[p.cls]--
		}
		var now *kv.Object[T]
		if ev.Type != kv.Delete {
			now = ev.New
		}
		p.cls = classify(p.obj, now)
		n.n[p.cls]++
	}
}

func (n *netChange[T]) counts() (deletes, creates, mutates int) {
	return n.n[deleted], n.n[created], n.n[mutated]
}

// change describes the net change for a judge.
func (n *netChange[T]) change() Change[T] {
	d, c, m := n.counts()
	return Change[T]{
		Before:  &heldView[T]{up: n.up, pending: &n.pending, n: n.up.Len() + d - c},
		After:   n.up,
		Deletes: d, Creates: c, Mutates: m,
		Revision: n.rev,
		net:      n,
	}
}

// eventType is what a class of the net change is as an event.
var eventType = [...]kv.EventType{deleted: kv.Delete, created: kv.Create, mutated: kv.Mutate}

// each yields every key the net change changes.
func (n *netChange[T]) each(yield func(string, kv.EventType) bool) {
	for name, p := range n.pending.All() {
		if p.cls != same && !yield(name, eventType[p.cls]) {
			return
		}
	}
}

// heldKeys returns up to max names of keys the net change holds back,
// deleted keys first, each group sorted.
func (n *netChange[T]) heldKeys(max int) []string {
	var keys []string
	for _, cls := range []class{deleted, created, mutated} {
		if n.n[cls] == 0 {
			continue
		}
		var group []string
		for name, p := range n.pending.All() {
			if p.cls == cls {
				group = append(group, name)
			}
		}
		sort.Strings(group)
		keys = append(keys, group[:min(len(group), max-len(keys))]...)
		if len(keys) >= max {
			break
		}
	}
	return keys
}

// batch returns the net change as one batch: Initial when the consumer
// never received its first listing, Net otherwise, and nil when there is
// nothing to deliver.
func (n *netChange[T]) batch(initial bool) *kv.Batch[T] {
	kind := kv.Net
	if initial && n.initial {
		kind = kv.Initial
	}
	var events []kv.Event[T]
	before := make(map[string]*kv.Object[T])
	for name, p := range n.pending.All() {
		if p.cls == same {
			continue
		}
		u, _ := n.up.Get(name)
		ev := kv.Event[T]{Name: name, Old: p.obj, New: u, Revision: n.rev}
		switch p.cls {
		case deleted:
			ev.Type, ev.Key = kv.Delete, p.obj.Key
		case created:
			ev.Type, ev.Key = kv.Create, u.Key
		case mutated:
			ev.Type, ev.Key = kv.Mutate, u.Key
		}
		events = append(events, ev)
		before[name] = p.obj
	}
	if len(events) == 0 && kind != kv.Initial {
		return nil
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Name < events[j].Name })
	return &kv.Batch[T]{
		Kind:     kind,
		Revision: n.rev,
		Events:   events,
		Before:   kv.Overlay(n.up, before),
		After:    n.up,
	}
}

// heldView is the consumer's view while a hold is in effect: the upstream
// state with every pending key replaced by the consumer's object. n is its
// size, kept by the net change's counts.
type heldView[T any] struct {
	up      kv.View[T]
	pending *smallmap.Map[*pendingKey[T]]
	n       int
}

func (v *heldView[T]) Get(name string) (*kv.Object[T], bool) {
	if p, ok := v.pending.Get(name); ok {
		return p.obj, p.obj != nil
	}
	return v.up.Get(name)
}

func (v *heldView[T]) Len() int { return v.n }

func (v *heldView[T]) Range(fn func(*kv.Object[T]) bool) {
	stopped := false
	v.up.Range(func(o *kv.Object[T]) bool {
		if v.pending.Has(o.Name) {
			return true
		}
		stopped = !fn(o)
		return !stopped
	})
	if stopped {
		return
	}
	for _, p := range v.pending.All() {
		if p.obj != nil && !fn(p.obj) {
			return
		}
	}
}
