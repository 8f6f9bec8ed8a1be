package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestRecentNewestFirstWithFilter(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := audit.NewLog(cli)
	const n = 1100 // more than one page
	var ops []clientv3.Op
	for i := range n {
		entity := intent.Kind
		if i%2 == 1 {
			entity = labels.Kind
		}
		op, err := log.Op(audit.Created, entity, fmt.Sprintf("web1/pod-%04d", i), "alice", nil)
		require.NoError(t, err)
		ops = append(ops, op)
	}
	for _, op := range ops { // one at a time: ids are time-ordered
		_, err := kv.Commit(ctx, cli, nil, op)
		require.NoError(t, err)
	}

	all, err := log.Recent(ctx, 0, nil)
	require.NoError(t, err)
	require.Len(t, all.Items, n)
	require.Empty(t, all.Invalid)
	for i := 1; i < len(all.Items); i++ {
		require.Greater(t, all.Items[i-1].Key, all.Items[i].Key, "newest first")
	}
	newest, err := cli.Get(ctx, "/p2/audit/", clientv3.WithLastKey()...)
	require.NoError(t, err)
	require.Equal(t, string(newest.Kvs[0].Key), all.Items[0].Key)

	labelsOnly, err := log.Recent(ctx, 3, func(r *audit.Record) bool { return r.Entity == labels.Kind })
	require.NoError(t, err)
	require.Len(t, labelsOnly.Items, 3)
	var want []string
	for _, o := range all.Items {
		if o.Value.Entity == labels.Kind && len(want) < 3 {
			want = append(want, o.Key)
		}
	}
	for i, o := range labelsOnly.Items {
		require.Equal(t, want[i], o.Key)
	}

	old, err := log.Recent(ctx, 1, func(r *audit.Record) bool { return r.ID == "web1/pod-0000" })
	require.NoError(t, err)
	require.Len(t, old.Items, 1, "found past the first page")
}

func TestPathIDs(t *testing.T) {
	base := audit.Record{EventType: audit.Released, Entity: failsafe.HoldKind, Actor: "alice", Timestamp: time.Now()}
	for _, id := range []string{"hello", "web1/hello", "pod/web1/hello"} {
		r := base
		r.ID = id
		require.NoError(t, r.Validate(), id)
	}
	for _, id := range []string{"", "web1/", "/hello", "Web1/hello", "web1//hello"} {
		r := base
		r.ID = id
		require.Error(t, r.Validate(), id)
	}
}
