package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
)

func TestWaitForRevisionAndUnsubscribe(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v := fleet.New(cli, "/p2", failsafe.NewHolds(cli, "test"), nil)
	calls := make(chan fleet.Change, 100)
	unsubscribe := v.Subscribe(func(c fleet.Change) { calls <- c })
	go func() { _ = v.Run(ctx) }()
	require.NoError(t, v.WaitSynced(ctx))

	for i := range 20 {
		o, err := intent.NewStore(cli).Set(ctx, "n1", pod("web"))
		require.NoError(t, err)
		// Once WaitFor returns, the view shows the write: no poll needed.
		require.NoError(t, v.WaitFor(ctx, o.ModRevision, fleet.Intent), "write %d", i)
		got, ok := v.Intent.Get("n1/web")
		require.True(t, ok)
		require.GreaterOrEqual(t, got.ModRevision, o.ModRevision)
		require.GreaterOrEqual(t, v.Intent.Revision(), o.ModRevision)
	}
	// A mirror whose keys did not change does not reach the revision.
	o, err := labels.New(cli).Put(ctx, labels.Node, "n1", labels.Set{"a": "b"})
	require.NoError(t, err)
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	require.ErrorIs(t, v.WaitFor(short, o.ModRevision, fleet.Intent), context.DeadlineExceeded)
	require.NoError(t, v.WaitFor(ctx, o.ModRevision, fleet.NodeLabels))

	// After cancel, fn is not called.
	unsubscribe()
	for len(calls) > 0 {
		<-calls
	}
	o, err = labels.New(cli).Put(ctx, labels.Node, "n1", labels.Set{"a": "c"})
	require.NoError(t, err)
	require.NoError(t, v.WaitFor(ctx, o.ModRevision, fleet.NodeLabels))
	require.Empty(t, calls)
}
