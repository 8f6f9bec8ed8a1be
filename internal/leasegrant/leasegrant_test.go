package leasegrant_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/leasegrant"
	"github.com/stretchr/testify/require"
)

// A grant whose answer is held past its deadline was applied by etcd; the
// retry finds that lease and no second one is made.
func TestRetriedGrantFindsTheLeaseItMade(t *testing.T) {
	c := etcdtest.New(t)
	px := c.Members[0].Proxy(t)
	cli := c.Client(t)
	pcli := c.ClientFor(t, px.Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pcli.Get(ctx, "/") // connected before the answers are held
	require.NoError(t, err)

	var g leasegrant.Granter
	px.Server().PauseRx()
	gctx, gcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = g.Grant(gctx, pcli, 30)
	gcancel()
	require.Error(t, err, "the answer is held past the deadline")
	var leases int
	require.Eventually(t, func() bool {
		l, err := cli.Leases(ctx)
		require.NoError(t, err)
		leases = len(l.Leases)
		return leases == 1
	}, 10*time.Second, 10*time.Millisecond, "etcd applied the grant whose answer is held")
	px.Server().UnpauseRx()

	// The retry asks first whether the lease is there: it proposes no
	// second grant (each is a raft entry, "lease already exists" or not).
	srv := c.Members[0].Server().Server
	committed := srv.CommittedIndex()
	id, err := g.Grant(ctx, pcli, 30)
	require.NoError(t, err)
	require.Equal(t, committed, srv.CommittedIndex(), "the retry proposed a grant")
	l, err := cli.Leases(ctx)
	require.NoError(t, err)
	require.Len(t, l.Leases, 1, "the retry made a second lease")
	require.Equal(t, id, l.Leases[0].ID)

	// Once a grant succeeded the next one is a new lease.
	id2, err := g.Grant(ctx, cli, 30)
	require.NoError(t, err)
	require.NotEqual(t, id, id2)
}
