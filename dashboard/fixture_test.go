package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const root = "/p2"

// fleet is a test fleet written into etcd: nodes with labels, intent, pod
// records and preparer records, an RC, a daemon set and a roll.
type fleet struct {
	nodes int
	pods  int
	// gone is every gone-th node without a preparer record (0: none).
	gone int
}

func nodeName(i int) string { return fmt.Sprintf("node-%05d", i) }

// writer batches raw puts into transactions.
type writer struct {
	t   testing.TB
	cli *clientv3.Client
	ops []clientv3.Op
}

func (w *writer) put(key string, v any) {
	var data []byte
	switch x := v.(type) {
	case string:
		data = []byte(x)
	default:
		var err error
		data, err = json.Marshal(v)
		require.NoError(w.t, err)
	}
	w.ops = append(w.ops, clientv3.OpPut(key, string(data)))
	if len(w.ops) == kv.MaxTxnOps {
		w.flush()
	}
}

func (w *writer) flush() {
	if len(w.ops) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := w.cli.Txn(ctx).Then(w.ops...).Commit()
	require.NoError(w.t, err)
	w.ops = w.ops[:0]
}

// write puts the fleet's nodes and pods; pod i of a node belongs to the
// RC "hello-v1" when i is 0, to the daemon set "agent" otherwise.
func (f fleet) write(t testing.TB, cli *clientv3.Client) {
	w := &writer{t: t, cli: cli}
	now := time.Now().UTC()
	for i := range f.nodes {
		n := nodeName(i)
		zone := fmt.Sprintf("zone-%d", i%3)
		w.put(root+"/labels/node/"+n, map[string]string{"env": "prod", "zone": zone})
		if f.gone == 0 || i%f.gone != 0 {
			w.put(root+"/status/nodes/"+n+"/preparer", status.NodeRecord{Version: "test", StartedAt: now, LastSeen: now, Pods: f.pods, TTLSeconds: 15})
		}
		for p := range f.pods {
			pod, owner, ownerID := "hello", "replication_controller_id", "hello-v1"
			if p > 0 {
				pod, owner, ownerID = fmt.Sprintf("agent%d", p), "daemon_set_id", "agent"
			}
			w.put(root+"/intent/"+n+"/"+pod, storetest.ManifestJSON(pod))
			w.put(root+"/labels/pod/"+n+"/"+pod, map[string]string{"pod_id": pod, owner: ownerID})
			health := status.Passing
			if i%7 == 3 {
				health = status.Critical
			}
			w.put(root+"/status/pods/"+n+"/"+pod+"/preparer", status.PodStatus{Status: status.Launched, Health: health, UpdatedAt: now})
		}
	}
	w.flush()
}

// controllers creates an RC, a daemon set and a roll with the farms'
// status records, through the stores (so that they are audited).
func controllers(t testing.TB, cli *clientv3.Client, replicas int) {
	ctx := context.Background()
	_, err := rc.NewStore(cli).Create(ctx, "alice", &rc.RC{ID: "hello-v1", Manifest: *storetest.Manifest("hello"), NodeSelector: "env=prod", ReplicasDesired: replicas})
	require.NoError(t, err)
	_, err = rc.NewStore(cli).Create(ctx, "alice", &rc.RC{ID: "hello-v2", Manifest: *storetest.Manifest("hello"), NodeSelector: "env=prod", ReplicasDesired: 0})
	require.NoError(t, err)
	_, err = rc.NewStatusStore(cli).Put(ctx, status.ReplicationControllers, "hello-v1", &rc.Status{Desired: replicas, Current: replicas, Healthy: replicas - 1, UpdatedAt: time.Now()})
	require.NoError(t, err)
	_, err = daemonset.NewStore(cli).Create(ctx, "bob", &daemonset.DaemonSet{ID: "agent", PodID: "agent1", Manifest: *storetest.Manifest("agent1"), NodeSelector: "env=prod"})
	require.NoError(t, err)
	ds, err := status.NewStore[daemonset.Status](cli, daemonset.StatusNamespace)
	require.NoError(t, err)
	_, err = ds.Put(ctx, status.DaemonSets, "agent", &daemonset.Status{Matched: 5, Current: 5, Healthy: 4, UpdatedAt: time.Now()})
	require.NoError(t, err)
	_, err = roll.NewStore(cli).Create(ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2", DesiredReplicas: replicas, MinimumReplicas: replicas - 1, Deadline: roll.Duration(time.Hour)})
	require.NoError(t, err)
	_, err = roll.NewStatusStore(cli).Put(ctx, status.Rolls, "hello-v2", &roll.Status{Phase: roll.Running, OldRC: "hello-v1", NewRC: "hello-v2",
		OldReplicas: replicas, DesiredReplicas: replicas, MinimumReplicas: replicas - 1, OldHealthy: replicas - 1, Healthy: replicas - 1, StartedAt: time.Now()})
	require.NoError(t, err)
}

// consumer is a guarded watch of one node's intent that holds a wipe,
// consumed until the test ends: the real thing a preparer runs.
type consumer struct {
	node    string
	batches chan *kv.Batch[json.RawMessage]
}

// startConsumer starts a consumer of node's intent guarded by NotEmpty.
func startConsumer(t testing.TB, cli *clientv3.Client, node string) *consumer {
	ctx, cancel := context.WithCancel(context.Background())
	h := failsafe.NewHolds(cli, "preparer/"+node, failsafe.WithPrefix(root))
	src := failsafe.Chain[json.RawMessage](kv.New[json.RawMessage](cli, root+"/intent/"+node).Watch(ctx), failsafe.NotEmpty[json.RawMessage](h))
	c := &consumer{node: node, batches: make(chan *kv.Batch[json.RawMessage], 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := src.Next(ctx)
			if err != nil {
				return
			}
			select {
			case c.batches <- b:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		h.Close()
		<-done
	})
	return c
}

// trip wipes the consumer's node's intent and waits for the hold record.
func (c *consumer) trip(t testing.TB, cli *clientv3.Client) failsafe.Record {
	ctx := context.Background()
	require.Eventually(t, func() bool { return len(c.batches) > 0 }, 20*time.Second, 20*time.Millisecond, "the consumer's first batch")
	_, err := cli.Delete(ctx, root+"/intent/"+c.node+"/", clientv3.WithPrefix())
	require.NoError(t, err)
	var rec failsafe.Record
	require.Eventually(t, func() bool {
		holds, err := failsafe.ListHolds(ctx, cli, root)
		if err != nil || len(holds) == 0 {
			return false
		}
		rec = holds[0]
		return true
	}, 20*time.Second, 20*time.Millisecond, "a hold record")
	return rec
}

// holdGone waits until no hold record is left.
func holdGone(t testing.TB, cli *clientv3.Client) {
	require.Eventually(t, func() bool {
		holds, err := failsafe.ListHolds(context.Background(), cli, root)
		return err == nil && len(holds) == 0
	}, 20*time.Second, 20*time.Millisecond, "the hold record removed")
}
