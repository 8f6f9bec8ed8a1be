package kv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEarlyProgressLosesNoEvents: etcd before 3.4.24 and 3.5.8 answers a
// progress request at once, with its current revision, even to a watch
// still catching up on older events (etcd-io/etcd#15220); the events
// come after. A watch that took that answer for the truth would refuse
// the events as older than its revision and lose them. On every server,
// a watch replaying history while a watch on the same stream asks for
// progress gets every event, and its revision never runs ahead of what
// it applied until it has caught up.
func TestEarlyProgressLosesNoEvents(t *testing.T) {
	etcdexec.EachVersion(t, embedded, func(t *testing.T, cli *clientv3.Client) {
		ctx := testCtx(t)
		// A quiet watch, synced, whose progress requests share the
		// stream with the replaying watches.
		quiet := kv.New[item](cli, "/t/quiet/").Watch(ctx)
		next[item](t, quiet)
		openWatch(t, quiet)

		const keys, writes = 50, 20
		for round := range 5 {
			s := kv.New[item](cli, fmt.Sprintf("/t/r%d/", round))
			first, err := cli.Put(ctx, fmt.Sprintf("/t/r%d/start", round), `{"n":0}`)
			require.NoError(t, err)
			for i := range writes {
				var ops []clientv3.Op
				for k := range keys {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("/t/r%d/k%d", round, k), fmt.Sprintf(`{"n":%d}`, i+1)))
				}
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				require.NoError(t, err)
			}
			last, err := cli.Put(ctx, "/t/other", "x") // the current revision is past the prefix's last write
			require.NoError(t, err)

			w := s.Watch(ctx, kv.FromRevision(first.Header.Revision))
			// Open the watch without waiting for its events, then
			// ask for progress on the stream while it replays.
			openWatch(t, w)
			// The quiet watch asks in even rounds, the replaying one
			// itself in odd rounds.
			asker := quiet
			if round%2 == 1 {
				asker = w
			}
			require.NoError(t, asker.RequestProgress(ctx))

			events := 0
			applied := int64(0)
			for {
				st := w.State()
				if o, ok := st.Get("k0"); ok && o.Value.N == writes {
					break
				}
				nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				b, err := w.Next(nctx)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("round %d: the watch stopped at revision %d with %d of %d events; k0 is %+v",
						round, w.Revision(), events, 1+keys*writes, st.Len())
				}
				require.NoError(t, err)
				events += len(b.Events)
				applied = b.Revision
				require.LessOrEqual(t, w.Revision(), applied, "round %d: the revision ran ahead of the events applied", round)
			}
			require.Equal(t, 1+keys*writes, events, "round %d: every write is an event", round)
			require.Less(t, applied, last.Header.Revision)

			// Caught up, the watch's revision follows etcd's when it
			// asks, though its prefix is quiet.
			require.NoError(t, w.RequestProgress(ctx))
			deadline := time.Now().Add(20 * time.Second)
			for w.Revision() < last.Header.Revision {
				require.True(t, time.Now().Before(deadline), "round %d: revision %d, want %d", round, w.Revision(), last.Header.Revision)
				nctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				b, err := w.Next(nctx)
				cancel()
				if err == nil {
					t.Fatalf("round %d: a batch on a quiet prefix: %+v", round, b)
				}
				require.ErrorIs(t, err, context.DeadlineExceeded)
				if w.Revision() < last.Header.Revision {
					require.NoError(t, w.RequestProgress(ctx))
				}
			}
			w.Close()
		}
	})
}

// embedded starts an embedded etcd member and returns its client.
func embedded(t *testing.T) *clientv3.Client { return etcdtest.New(t).Client(t) }

// openWatch has w open its watch, without waiting for events: Next
// opens it and gives up on its deadline.
func openWatch(t *testing.T, w *kv.Watcher[item]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_, err := w.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
