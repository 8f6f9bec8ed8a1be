// Package farmtest holds conformance tests that any farm, built-in or
// your own, runs against real etcd (see package etcdtest). TestFencing
// checks the rule every farm lives by: a process that lost an entity's
// lock writes nothing more for it.
package farmtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Fencing describes the farm under test.
type Fencing struct {
	// Client reads etcd's history and takes the lock away.
	Client *clientv3.Client
	// Prefix is the farm's root prefix (default "/p2"): every write under
	// it, other than locks, counts as the farm's.
	Prefix string
	// ID is an entity whose first reconcile writes: set up the entity and
	// the fleet before calling TestFencing.
	ID string
	// Run runs the farm, built with opts added to its own options, until
	// ctx ends.
	Run func(ctx context.Context, opts ...farm.Option) error
	// Ignore reports keys that something other than the farm writes
	// meanwhile (a preparer's status, say); nil: none.
	Ignore func(key string) bool
	// Timeout bounds the wait for the first reconcile (default 60s).
	Timeout time.Duration
}

type stolen struct {
	rev int64 // the revision of the theft
	err error // what the paused reconcile returned
}

// TestFencing runs the farm and, in the first reconcile of f.ID, after
// the farm claimed the lock and before its reconciler runs, takes the lock
// away: the farm's lock key is deleted and another holder's key put in its
// place, as when the lease expired and another process took over. The
// reconcile then goes on; the test asserts that it tried to write and was
// refused, and that none of the farm's writes landed after the theft
// (read from etcd's history, up to the farm's stop).
func TestFencing(t *testing.T, f Fencing) {
	t.Helper()
	prefix := strings.TrimRight(f.Prefix, "/")
	if prefix == "" {
		prefix = "/p2"
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	got := make(chan stolen, 1)
	first := true
	mw := func(next farm.KeyFunc) farm.KeyFunc {
		return func(ctx context.Context, id string) (farm.Result, error) {
			if id != f.ID || !first {
				return next(ctx, id)
			}
			first = false // workers never run one entity twice at once
			fence, ok := farm.FenceFrom(ctx)
			if !ok {
				t.Errorf("farmtest: no fence in the reconcile's context")
				return next(ctx, id)
			}
			rev, err := steal(ctx, f.Client, fence.Key())
			if err != nil {
				t.Errorf("farmtest: take the lock %s away: %v", fence.Key(), err)
				got <- stolen{}
				return farm.Result{}, err
			}
			res, err := next(ctx, id)
			got <- stolen{rev: rev, err: err}
			return res, err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, farm.WithMiddleware(mw)) }()
	stop := func() {
		if cancel != nil {
			cancel()
			cancel = nil
			if err := <-done; err != nil {
				t.Errorf("farmtest: farm run: %v", err)
			}
		}
	}
	defer stop()

	var s stolen
	select {
	case s = <-got:
	case err := <-done:
		t.Fatalf("farmtest: the farm stopped before reconciling %s: %v", f.ID, err)
	case <-time.After(timeout):
		t.Fatalf("farmtest: the farm did not reconcile %s within %s", f.ID, timeout)
	}
	if s.rev == 0 {
		t.FailNow()
	}
	stop()
	if landed := writesSince(t, f.Client, prefix, s.rev, f.Ignore); len(landed) > 0 {
		t.Errorf("farmtest: the farm wrote after losing the lock of %s (theft at revision %d): %s",
			f.ID, s.rev, strings.Join(landed, "; "))
	}
	if !errors.Is(s.err, kv.ErrConflict) && !errors.Is(s.err, farm.ErrNotOwner) {
		t.Errorf("farmtest: the reconcile of %s after the theft returned %v, want a refused fenced write "+
			"(kv.ErrConflict or farm.ErrNotOwner); does its first reconcile write?", f.ID, s.err)
	}
}

// steal deletes the lock key and puts another holder's key in its place.
func steal(ctx context.Context, cli *clientv3.Client, key string) (int64, error) {
	dir := key[:strings.LastIndex(key, "/")+1]
	resp, err := cli.Txn(ctx).Then(clientv3.OpDelete(key), clientv3.OpPut(dir+"farmtest-thief", "")).Commit()
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// writesSince lists the writes under prefix after rev, except locks and
// ignored keys: it reads etcd's history up to a marker written now.
func writesSince(t *testing.T, cli *clientv3.Client, prefix string, rev int64, ignore func(string) bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	marker := prefix + "/farmtest-marker"
	wch := cli.Watch(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	if _, err := cli.Put(ctx, marker, ""); err != nil {
		t.Fatalf("farmtest: put marker: %v", err)
	}
	defer cli.Delete(context.Background(), marker)
	var landed []string
	for resp := range wch {
		if err := resp.Err(); err != nil {
			t.Fatalf("farmtest: read history from revision %d: %v", rev+1, err)
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			switch {
			case key == marker:
				return landed
			case strings.HasPrefix(key, prefix+"/locks/"), ignore != nil && ignore(key):
			default:
				landed = append(landed, ev.Type.String()+" "+key)
			}
		}
	}
	t.Fatalf("farmtest: history ended before the marker: %v", ctx.Err())
	return nil
}
