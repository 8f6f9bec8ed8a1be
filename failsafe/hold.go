package failsafe

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Hold is one hold in effect. A guard built from scratch gets one from
// Holds.Begin, keeps it up to date with Update, watches Released and ends
// it with End.
type Hold struct {
	h  *Holds
	id string
	// guard is the record's guard when the hold began: its metrics label.
	guard string

	mu  sync.Mutex
	rec Record
	// keys, when set, lists the held keys each time the record is
	// written, so that listing them costs nothing per batch.
	keys func() []string

	// Guarded by h.mu: the record changed since it was last written,
	// and when it may be written next.
	dirty     bool
	nextWrite time.Time
	// lease is the lease the record was last written under; unsure, that
	// the last put's answer was lost (it may have been applied).
	lease  clientv3.LeaseID
	unsure bool
	// firstWritten is closed once the record is first in etcd: Begin
	// waits for it a while.
	firstWritten chan struct{}

	// released is closed, and isReleased set, when an operator
	// releases the hold (or it ends); onRelease (guarded by mu) are then
	// called, once. Not a context: a context, its channel, its map of
	// children and an AfterFunc per held node is a fleet's heap.
	released   chan struct{}
	isRel      atomic.Bool
	onRelease  []*func()
	releasedBy string
	releaseRev int64
	endOnce    sync.Once
}

// ID is the hold's id, the last segment of its record's key.
func (hd *Hold) ID() string { return hd.id }

// Record returns a copy of the hold's record as last updated.
func (hd *Hold) Record() Record {
	hd.mu.Lock()
	r := hd.rec
	keys := hd.keys
	hd.mu.Unlock()
	if keys != nil {
		r.Keys = keys()
		hd.mu.Lock()
		hd.rec.Keys = slices.Clone(r.Keys)
		hd.mu.Unlock()
	} else {
		r.Keys = slices.Clone(r.Keys)
	}
	return r
}

// Update replaces the reason, counts and keys of the hold's record; the
// id, component, stage, revision and time stay. The record in etcd is
// rewritten in the background, at most twice a second.
func (hd *Hold) Update(rec Record) {
	hd.mu.Lock()
	old := hd.rec
	rec.ID, rec.Component, rec.Stage, rec.Revision, rec.Time = old.ID, old.Component, old.Stage, old.Revision, old.Time
	if rec.Guard == "" {
		rec.Guard = old.Guard
	}
	keys := hd.keys
	if keys != nil {
		// The keys come from keys when the record is written; compared
		// below, and only when nothing else changed.
		rec.Keys = old.Keys
	}
	changed := !sameRecord(old, rec)
	hd.rec = rec
	hd.mu.Unlock()
	if !changed && keys != nil {
		changed = !hd.sameKeys(keys())
	}
	if changed {
		hd.markDirty()
	}
}

// sameKeys says whether keys are the keys of the record last read.
func (hd *Hold) sameKeys(keys []string) bool {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	return slices.Equal(hd.rec.Keys, keys)
}

func sameRecord(a, b Record) bool {
	if a.Guard != b.Guard || a.Reason != b.Reason || a.Deletes != b.Deletes || a.Creates != b.Creates ||
		a.Mutates != b.Mutates || a.Total != b.Total || len(a.Keys) != len(b.Keys) {
		return false
	}
	for i := range a.Keys {
		if a.Keys[i] != b.Keys[i] {
			return false
		}
	}
	return true
}

// setKeys makes every write of the record list the keys keys returns.
func (hd *Hold) setKeys(keys func() []string) {
	hd.mu.Lock()
	hd.keys = keys
	hd.mu.Unlock()
	// The record written when the hold began lists the same keys, as a
	// rule: a second write of it would only cost etcd a put per hold.
	if !hd.sameKeys(keys()) {
		hd.markDirty()
	}
}

// markDirty has the record written again by h's bookkeeping.
func (hd *Hold) markDirty() {
	h := hd.h
	h.mu.Lock()
	hd.dirty = true
	h.mu.Unlock()
	h.poke()
}

// Released is closed when an operator releases the hold.
func (hd *Hold) Released() <-chan struct{} { return hd.released }

// ReleasedBy is who released the hold, "" while it is not released.
func (hd *Hold) ReleasedBy() string {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	return hd.releasedBy
}

// ReleaseRevision is the etcd revision the release was written at, 0
// while the hold is not released. A guard delivers the net change up to at
// least this revision.
func (hd *Hold) ReleaseRevision() int64 {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	return hd.releaseRev
}

func (hd *Hold) isReleased() bool { return hd.isRel.Load() }

func (hd *Hold) fire(by string, rev int64) {
	hd.mu.Lock()
	if !hd.isReleased() {
		hd.releasedBy, hd.releaseRev = by, rev
	}
	hd.mu.Unlock()
	hd.release()
}

// release marks the hold released and calls what waits for that, once.
func (hd *Hold) release() {
	hd.mu.Lock()
	if hd.isRel.Swap(true) {
		hd.mu.Unlock()
		return
	}
	close(hd.released)
	fs := hd.onRelease
	hd.onRelease = nil
	hd.mu.Unlock()
	for _, f := range fs {
		(*f)()
	}
}

// afterRelease calls f once the hold is released, at once if it is.
// stop keeps f from being called, and reports whether it did that.
func (hd *Hold) afterRelease(f func()) (stop func() bool) {
	hd.mu.Lock()
	if hd.isReleased() {
		hd.mu.Unlock()
		f()
		return func() bool { return false }
	}
	p := &f
	hd.onRelease = append(hd.onRelease, p)
	hd.mu.Unlock()
	return func() bool {
		hd.mu.Lock()
		defer hd.mu.Unlock()
		n := len(hd.onRelease)
		hd.onRelease = slices.DeleteFunc(hd.onRelease, func(q *func()) bool { return q == p })
		return len(hd.onRelease) < n
	}
}
