package etcdtest

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Deletes records every key deleted under a prefix from a revision on, for
// tests that must prove a component removed nothing: a watch opened from a
// revision taken before the component acts misses no event, however fast
// the component is.
type Deletes struct {
	t   TB
	cli *clientv3.Client
	ch  clientv3.WatchChan
	got []string
	rev int64 // the revision the watch has reported up to
}

// WatchDeletes starts recording the keys deleted under prefix after
// revision rev. The watch ends with the test.
func WatchDeletes(t TB, cli *clientv3.Client, prefix string, rev int64) *Deletes {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	return &Deletes{t: t, cli: cli, ch: ch, rev: rev}
}

// Since reads the watch up to etcd's current revision, asking etcd for
// progress notifications to know it got there, and returns every key
// deleted since the watch's start revision. It fails the test when the
// watch does not get there within a minute.
func (d *Deletes) Since() []string {
	t := d.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := d.cli.Get(ctx, "\x00deletes-probe")
	if err != nil {
		t.Fatalf("etcdtest: read the current revision: %v", err)
	}
	now := resp.Header.Revision
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for d.rev < now {
		select {
		case w, ok := <-d.ch:
			if !ok {
				t.Fatalf("etcdtest: the watch of deletes ended at revision %d", d.rev)
			}
			if err := w.Err(); err != nil {
				t.Fatalf("etcdtest: the watch of deletes: %v", err)
			}
			for _, ev := range w.Events {
				if ev.Type == clientv3.EventTypeDelete {
					d.got = append(d.got, string(ev.Kv.Key))
				}
				d.rev = max(d.rev, ev.Kv.ModRevision)
			}
			if w.IsProgressNotify() {
				d.rev = max(d.rev, w.Header.Revision)
			}
		case <-tick.C:
			// The watch and this request share the client's default
			// stream: neither context carries metadata.
			if err := d.cli.RequestProgress(context.Background()); err != nil {
				t.Fatalf("etcdtest: request watch progress: %v", err)
			}
		case <-ctx.Done():
			t.Fatalf("etcdtest: the watch of deletes never reached revision %d (at %d)", now, d.rev)
		}
	}
	return d.got
}
