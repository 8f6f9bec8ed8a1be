package labels_test

import (
	"errors"
	"testing"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestApplyWithOpsWritesInTheSameTransaction(t *testing.T) {
	st, cli, ctx := setup(t)
	var prevs []*kv.Object[labels.Set]
	record := labels.WithOps(func(prev *kv.Object[labels.Set], next labels.Set) ([]clientv3.Op, error) {
		prevs = append(prevs, prev)
		return []clientv3.Op{clientv3.OpPut("/record/"+next["env"], "x")}, nil
	})

	created, err := st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "prod"}, nil, record)
	require.NoError(t, err)
	require.Equal(t, labels.Set{"env": "prod"}, created.Value)
	require.EqualValues(t, 1, created.Version)
	require.Nil(t, prevs[0], "no set before")
	resp, err := cli.Get(ctx, "/record/prod")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, created.ModRevision, resp.Kvs[0].ModRevision, "one transaction")
	got, err := st.Get(ctx, labels.Node, "web1")
	require.NoError(t, err)
	require.Equal(t, created.ModRevision, got.ModRevision)
	require.Equal(t, created.CreateRevision, got.CreateRevision)

	updated, err := st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "dev"}, nil, record)
	require.NoError(t, err)
	require.Equal(t, created.ModRevision, prevs[1].ModRevision)
	require.EqualValues(t, 2, updated.Version)
	require.Equal(t, created.CreateRevision, updated.CreateRevision)
	resp, err = cli.Get(ctx, "/record/dev")
	require.NoError(t, err)
	require.Equal(t, updated.ModRevision, resp.Kvs[0].ModRevision)

	// No change: nothing written, fn not called.
	_, err = st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "dev"}, nil, record)
	require.NoError(t, err)
	require.Len(t, prevs, 2)

	// An error of fn writes nothing.
	boom := errors.New("boom")
	_, err = st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "qa"}, nil,
		labels.WithOps(func(*kv.Object[labels.Set], labels.Set) ([]clientv3.Op, error) { return nil, boom }))
	require.ErrorIs(t, err, boom)
	got, err = st.Get(ctx, labels.Node, "web1")
	require.NoError(t, err)
	require.Equal(t, "dev", got.Value["env"])
}
