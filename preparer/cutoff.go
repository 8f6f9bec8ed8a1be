package preparer

import "context"

// A preparer whose node record's lease was lost was cut off from etcd for
// longer than the lease's TTL. Over a healthy connection etcd's watch
// stream loses nothing, but a network fault can leave a stream that is
// still up yet lost what was sent on it, with no error: the intent watch
// could then miss changes made meanwhile and never converge. So when the
// record has to be written under a new lease, the intent watch relists
// (kv.Watcher.Resync): the listing is diffed against what the watch had
// and the difference goes through the failsafe chain like any batch.

// notifyCutOff records that the node record's lease was lost; it never
// blocks, and notices that come before the watch handles them merge.
func (p *Preparer) notifyCutOff() {
	select {
	case p.cutOff <- struct{}{}:
	default:
	}
}

// resyncer is what the preparer asks to relist (a *kv.Watcher).
type resyncer interface{ Resync() }

// resyncOnCutOff asks w to relist each time the preparer learns it was cut
// off, until ctx ends.
func (p *Preparer) resyncOnCutOff(ctx context.Context, w resyncer) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.cutOff:
			p.log.Warn("cut off from etcd for longer than the node record's lease; relisting intent")
			p.m.cutOffs.Inc()
			w.Resync()
		}
	}
}
