package preparer

import (
	"sync"
)

// A preparer whose node record's lease was lost was cut off from etcd for
// longer than the lease's TTL. Over a healthy connection etcd's watch
// stream loses nothing, but a network fault can leave a stream that is
// still up yet lost what was sent on it, with no error: the intent watch
// could then miss changes made meanwhile and never converge. So when the
// record has to be written under a new lease, the intent watch relists
// (kv.Watcher.Resync): the listing is diffed against what the watch had
// and the difference goes through the failsafe chain like any batch.
//
// The relist is asked for from the goroutine that notices the loss, not
// from one that waits for it: a preparer costs as few goroutines as it can
// (a simulated fleet runs 100,000 of them in one process).

// resyncer is what the preparer asks to relist (a *kv.Watcher).
type resyncer interface{ Resync() }

// cutOffs is where the preparer's notices of a lost lease go: to the
// intent watch when one runs, otherwise kept for the next one.
type cutOffs struct {
	mu      sync.Mutex
	w       resyncer // the intent watch of the running Run, if any
	pending bool     // a loss noticed while no watch ran
}

// notifyCutOff records that the node record's lease was lost; it never
// blocks. Notices that come before the watch is set are merged and handed
// to it when it is.
func (p *Preparer) notifyCutOff() {
	p.cut.mu.Lock()
	w := p.cut.w
	p.cut.pending = w == nil
	p.cut.mu.Unlock()
	if w != nil {
		p.resync(w)
	}
}

// resyncOnCutOff hands w the losses noticed from now on, and any noticed
// before; the returned function stops that.
func (p *Preparer) resyncOnCutOff(w resyncer) (stop func()) {
	p.cut.mu.Lock()
	p.cut.w = w
	pending := p.cut.pending
	p.cut.pending = false
	p.cut.mu.Unlock()
	if pending {
		p.resync(w)
	}
	return func() {
		p.cut.mu.Lock()
		if p.cut.w == w {
			p.cut.w = nil
		}
		p.cut.mu.Unlock()
	}
}

func (p *Preparer) resync(w resyncer) {
	p.log.Warn("cut off from etcd for longer than the node record's lease; relisting intent")
	p.m.cutOffs.Inc()
	w.Resync()
}
