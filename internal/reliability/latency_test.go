package reliability_test

import (
	"testing"
	"time"

	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
)

// latency is added to each direction of every connection of the preparers
// and the controller: every request's round trip takes 500 ms more.
const latency = 250 * time.Millisecond

// latencyNodeTTL is the preparers' node record lease: the proxy delays each
// chunk of a connection in turn, so a renewal can take several round trips.
const latencyNodeTTL = 3 * time.Second

// With 500 ms added to every request of three preparers and the
// controller, an RC still comes up and a roll still completes, and no
// failsafe hold is ever recorded.
func TestEverythingConvergesWithAddedLatency(t *testing.T) {
	w := newWorld(t, 3)
	ps := w.etcd.Proxies(t)
	ps.Delay(latency)
	nodes := nodeNames("n", 3)
	for _, n := range nodes {
		w.proxiedNode(n, ps.Endpoints(), latencyNodeTTL, latencyNodeTTL)
	}
	from := w.revision()
	w.controller(w.dial(ps.Endpoints()), nil)

	v1, v2 := version("hello", 1), version("hello", 2)
	start := time.Now()
	_, err := w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "hello-v1", Manifest: *v1, NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": "hello"}, ReplicasDesired: 2})
	require.NoError(t, err)
	want := map[string]string{"hello": digest(t, v1)}
	require.Eventually(t, func() bool {
		st := w.rcStatus("hello-v1")
		return st != nil && st.Current == 2 && st.Healthy == 2
	}, 2*waitFor, 50*time.Millisecond, "v1 healthy on 2 nodes")
	figure(t, "RC of 2 replicas healthy, 500 ms added per request", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	_, err = w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "hello-v2", Manifest: *v2, NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": "hello"}, ReplicasDesired: 0})
	require.NoError(t, err)
	_, err = w.rolls.Create(w.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 2, MinimumReplicas: 1, Deadline: roll.Duration(3 * time.Minute)})
	require.NoError(t, err)
	var st *roll.Status
	require.Eventually(t, func() bool {
		st = w.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Done
	}, 2*waitFor, 50*time.Millisecond, "roll done; status %+v", st)
	figure(t, "roll of 2 replicas done, 500 ms added per request", time.Since(start).Round(time.Millisecond))

	want["hello"] = digest(t, v2)
	placed := w.placed("hello")
	require.Len(t, placed, 2)
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			_, on := placed[n]
			w.mu.Lock()
			node := w.nodes[n]
			w.mu.Unlock()
			if on && !runs(node, want) || !on && !runs(node, map[string]string{}) {
				return false
			}
		}
		return true
	}, 2*waitFor, 50*time.Millisecond, "v2 runs on exactly %v", placed)
	for _, e := range w.history("/p2/failsafe/holds/", from, w.revision()) {
		t.Errorf("failsafe hold recorded with added latency: %s", e.Kv.Key)
	}
	require.Empty(t, w.holds())
	for _, n := range nodes {
		require.True(t, w.nodeRecord(n), "node record of %s", n)
	}
}
