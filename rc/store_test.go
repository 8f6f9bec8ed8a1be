package rc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func valid(id string) *rc.RC {
	return &rc.RC{
		ID:              id,
		Manifest:        *storetest.Manifest("hello"),
		NodeSelector:    "env=prod,tier in (web,api)",
		PodLabels:       map[string]string{"app": "hello"},
		ReplicasDesired: 3,
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness[rc.RC]{
		Open: func(t *testing.T, cli *clientv3.Client, root string) storetest.Store[rc.RC] {
			return storetest.Entity(rc.NewStore(cli, keyspace.WithPrefix(root)), rc.Force())
		},
		Key:   func(root, id string) string { return root + "/replication_controllers/" + id },
		ID:    func(i int) string { return fmt.Sprintf("rc-%d", i) },
		Valid: valid,
		Mutate: func(r *rc.RC) *rc.RC {
			c := *r
			c.ReplicasDesired++
			return &c
		},
		InvalidIDs: []string{"Bad", "a/b", "-a", "a b"},
		MissingJSON: func(id string) string {
			return `{"id":"` + id + `","manifest":` + storetest.ManifestJSON("hello") + `,"node_selector":""}`
		},
		MissingField: "replicas_desired",
		Incomplete: func(id string) *rc.RC {
			r := valid(id)
			r.Manifest = *storetest.Manifest("")
			return r
		},
		IncompleteField: "manifest: id: required",
	})
}

func setup(t *testing.T) (context.Context, *clientv3.Client, *rc.Store) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, cli, rc.NewStore(cli)
}

func TestMissingReplicasIsNeverZero(t *testing.T) {
	var r rc.RC
	err := json.Unmarshal([]byte(`{"id":"a","manifest":`+storetest.ManifestJSON("hello")+`}`), &r)
	require.ErrorContains(t, err, "replicas_desired: required")

	require.NoError(t, json.Unmarshal([]byte(`{"id":"a","manifest":`+storetest.ManifestJSON("hello")+`,"replicas_desired":0}`), &r))
	require.Equal(t, 0, r.ReplicasDesired)

	err = json.Unmarshal([]byte(`{"id":"a","replicas_desired":1,"replica_desired":2}`), &r)
	require.ErrorContains(t, err, "replica_desired", "a misspelt field is refused")
}

func TestValidation(t *testing.T) {
	r := valid("a")
	r.NodeSelector = "env in (prod"
	require.ErrorContains(t, r.Validate(), "node_selector")
	r = valid("a")
	r.ReplicasDesired = -1
	require.ErrorContains(t, r.Validate(), "replicas_desired")
	r = valid("a")
	r.PodLabels = map[string]string{"bad key!": "x"}
	require.ErrorContains(t, r.Validate(), "pod_labels")
	r = valid("a")
	r.AllocationStrategy = "random"
	require.ErrorContains(t, r.Validate(), "allocation_strategy")
}

func TestDeleteRefusedUnlessScaledDown(t *testing.T) {
	ctx, _, s := setup(t)
	_, err := s.Create(ctx, "alice", valid("web"))
	require.NoError(t, err)

	err = s.Delete(ctx, "alice", "web")
	require.ErrorIs(t, err, rc.ErrNotScaledDown)
	require.ErrorContains(t, err, "/p2/replication_controllers/web")
	_, err = s.Get(ctx, "web")
	require.NoError(t, err, "a refused delete deleted nothing")

	_, err = s.Scale(ctx, "alice", "web", 0)
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, "alice", "web"))
	_, err = s.Get(ctx, "web")
	require.ErrorIs(t, err, kv.ErrNotFound)

	_, err = s.Create(ctx, "alice", valid("api"))
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, "alice", "api", rc.Force()))
	_, err = s.Get(ctx, "api")
	require.ErrorIs(t, err, kv.ErrNotFound)

	recs, err := s.Audit().List(ctx, time.Time{}, 0)
	require.NoError(t, err)
	var types []audit.EventType
	for _, r := range recs.Items {
		types = append(types, r.Value.EventType)
	}
	require.Equal(t, []audit.EventType{audit.Created, audit.Updated, audit.Deleted, audit.Created, audit.Deleted}, types,
		"the refused delete left no audit record")
}

func TestDeleteBadValueNeedsForce(t *testing.T) {
	ctx, cli, s := setup(t)
	_, err := cli.Put(ctx, "/p2/replication_controllers/web", `{"id":"web"}`)
	require.NoError(t, err)
	err = s.Delete(ctx, "alice", "web")
	require.ErrorIs(t, err, kv.ErrDecode)
	require.ErrorContains(t, err, "Force")
	require.NoError(t, s.Delete(ctx, "alice", "web", rc.Force()))
	recs, err := s.Audit().List(ctx, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, recs.Items, 1)
	require.Equal(t, audit.Deleted, recs.Items[0].Value.EventType)
	require.Empty(t, recs.Items[0].Value.Details)
}

func TestGuard(t *testing.T) {
	ctx, cli, s := setup(t)
	_, err := cli.Put(ctx, "/lock/owner", "me")
	require.NoError(t, err)
	owned := clientv3.Compare(clientv3.Value("/lock/owner"), "=", "me")
	lost := clientv3.Compare(clientv3.Value("/lock/owner"), "=", "someone-else")

	_, err = s.Create(ctx, "farm", valid("web"), rc.Guard(lost))
	require.ErrorIs(t, err, kv.ErrConflict)
	_, err = s.Get(ctx, "web")
	require.ErrorIs(t, err, kv.ErrNotFound)

	obj, err := s.Create(ctx, "farm", valid("web"), rc.Guard(owned))
	require.NoError(t, err)
	next := *valid("web")
	next.ReplicasDesired = 5
	_, err = s.Update(ctx, "farm", obj, &next, rc.Guard(lost))
	require.ErrorIs(t, err, kv.ErrConflict)
	_, err = s.Scale(ctx, "farm", "web", 5, rc.Guard(lost))
	require.ErrorIs(t, err, kv.ErrConflict, "a lost lock stops Modify instead of retrying forever")
	require.ErrorIs(t, s.Delete(ctx, "farm", "web", rc.Force(), rc.Guard(lost)), kv.ErrConflict)

	recs, err := s.Audit().List(ctx, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, recs.Items, 1, "only the one successful write is audited")
}

func TestActorRequired(t *testing.T) {
	ctx, _, s := setup(t)
	_, err := s.Create(ctx, "", valid("web"))
	require.ErrorContains(t, err, "actor")
	_, err = s.Get(ctx, "web")
	require.ErrorIs(t, err, kv.ErrNotFound)
}
