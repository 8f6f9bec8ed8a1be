package audit_test

import (
	"context"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
)

func TestIDsSortByTime(t *testing.T) {
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 100 {
		ids = append(ids, audit.NewID(base.Add(time.Duration(i)*time.Nanosecond)))
	}
	require.True(t, sort.StringsAreSorted(ids))
	for _, id := range ids {
		require.NoError(t, manifest.ValidateID(id))
	}
	require.NotEqual(t, audit.NewID(base), audit.NewID(base), "same instant, different ids")
}

func TestWrittenWithEveryChange(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	rcs := rc.NewStore(cli)
	dss := daemonset.NewStore(cli)
	pcs := podcluster.NewStore(cli)
	log := audit.NewLog(cli)

	r := &rc.RC{ID: "web", Manifest: *storetest.Manifest("hello"), ReplicasDesired: 0}
	obj, err := rcs.Create(ctx, "alice", r)
	require.NoError(t, err)
	_, err = rcs.Create(ctx, "mallory", r)
	require.ErrorIs(t, err, kv.ErrExists)
	next := *r
	next.ReplicasDesired = 2
	upd, err := rcs.Update(ctx, "bob", obj, &next)
	require.NoError(t, err)
	_, err = rcs.Update(ctx, "mallory", obj, &next)
	require.ErrorIs(t, err, kv.ErrConflict)
	require.NoError(t, rcs.Delete(ctx, "carol", "web", rc.Force()))

	ds := &daemonset.DaemonSet{ID: "edge", PodID: "hello", Manifest: *storetest.Manifest("hello")}
	_, err = dss.Create(ctx, "dave", ds)
	require.NoError(t, err)
	pc := &podcluster.PodCluster{ID: "pc", PodID: "hello", AvailabilityZone: "az1", Name: "web", PodSelector: "app=hello"}
	_, err = pcs.Create(ctx, "erin", pc)
	require.NoError(t, err)
	require.NoError(t, pcs.Delete(ctx, "erin", "pc"))

	all, err := log.List(ctx, time.Time{}, 0)
	require.NoError(t, err)
	require.Empty(t, all.Invalid)
	type row struct {
		event         audit.EventType
		entity, id, a string
	}
	var got []row
	for _, o := range all.Items {
		got = append(got, row{o.Value.EventType, o.Value.Entity, o.Value.ID, o.Value.Actor})
		require.False(t, o.Value.Timestamp.Before(start.Add(-time.Second)))
	}
	require.Equal(t, []row{
		{audit.Created, "replication_controllers", "web", "alice"},
		{audit.Updated, "replication_controllers", "web", "bob"},
		{audit.Deleted, "replication_controllers", "web", "carol"},
		{audit.Created, "daemon_sets", "edge", "dave"},
		{audit.Created, "pod_clusters", "pc", "erin"},
		{audit.Deleted, "pod_clusters", "pc", "erin"},
	}, got, "refused writes left no record; records list in time order")

	// Each record was written in the change's own transaction: at the
	// same revision.
	require.Equal(t, obj.ModRevision, all.Items[0].ModRevision)
	require.Equal(t, upd.ModRevision, all.Items[1].ModRevision)

	// Details hold the value written, or deleted.
	var d rc.RC
	require.NoError(t, json.Unmarshal(all.Items[1].Value.Details, &d))
	require.Equal(t, 2, d.ReplicasDesired)
	require.NoError(t, json.Unmarshal(all.Items[2].Value.Details, &d))
	require.Equal(t, 2, d.ReplicasDesired)

	// since and limit page through the log.
	page, err := log.List(ctx, all.Items[2].Value.Timestamp, 2)
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	require.Equal(t, all.Items[2].Key, page.Items[0].Key)
	require.Equal(t, all.Items[3].Key, page.Items[1].Key)
}
