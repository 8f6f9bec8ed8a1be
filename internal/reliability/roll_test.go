package reliability_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A roll of 4 replicas over 6 nodes completes when the etcd leader is
// stopped in the middle of it, and etcd's own history shows that no pod
// was ever scheduled twice or lost on the way. The same roll without the
// fault is the baseline.
func TestRollSurvivesLeaderLoss(t *testing.T) {
	var base, lost time.Duration
	t.Run("baseline", func(t *testing.T) { base = rollOnThreeMembers(t, false) })
	t.Run("leader-stopped", func(t *testing.T) { lost = rollOnThreeMembers(t, true) })
	figure(t, "roll of 4 replicas, no fault", base.Round(time.Millisecond))
	figure(t, "roll of 4 replicas, leader stopped mid-roll", lost.Round(time.Millisecond))
}

const (
	rollDesired = 4
	rollMinimum = 3
)

func rollOnThreeMembers(t *testing.T, stopLeader bool) time.Duration {
	w := newWorld(t, 3)
	nodes := nodeNames("n", 6)
	for _, n := range nodes {
		w.node(n, labels.Set{"env": "prod"}, nil, nil)
	}
	w.controller(w.client(), nil)

	v1, v2 := version("hello", 1), version("hello", 2)
	d2 := digest(t, v2)
	_, err := w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "hello-v1", Manifest: *v1, NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": "hello"}, ReplicasDesired: rollDesired})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := w.rcStatus("hello-v1")
		return st != nil && st.Current == rollDesired && st.Healthy == rollDesired
	}, waitFor, 10*time.Millisecond, "v1 healthy on %d nodes", rollDesired)

	from := w.revision()
	_, err = w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "hello-v2", Manifest: *v2, NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": "hello"}, ReplicasDesired: 0})
	require.NoError(t, err)
	start := time.Now()
	_, err = w.rolls.Create(w.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: rollDesired, MinimumReplicas: rollMinimum, Deadline: roll.Duration(2 * time.Minute)})
	require.NoError(t, err)

	if stopLeader {
		require.Eventually(t, func() bool {
			st := w.rollStatus("hello-v2")
			return st != nil && st.Phase == roll.Rolling && st.NewReplicas >= 1
		}, waitFor, 2*time.Millisecond, "the roll takes its first step")
		leader := w.etcd.Leader(t)
		stopped := time.Now()
		leader.Stop(t)
		closed := time.Now()
		next := w.etcd.Leader(t)
		figure(t, "leader's Stop (embedded etcd's graceful close) took", closed.Sub(stopped).Round(time.Millisecond))
		figure(t, "new leader elected after Stop returned", time.Since(closed).Round(time.Millisecond))
		t.Logf("stopped leader %s during the roll; %s leads now", leader.Name, next.Name)
		defer func() {
			leader.Restart(t)
			// The restarted member catches up: a linearizable read
			// through it alone sees the final intent.
			only := w.client(leader.Endpoint())
			want := w.placed("hello")
			require.Eventually(t, func() bool {
				ctx, cancel := context.WithTimeout(w.ctx, 2*time.Second)
				defer cancel()
				resp, err := only.Get(ctx, "/p2/intent/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
				if err != nil {
					return false
				}
				n := 0
				for _, kv := range resp.Kvs {
					if strings.HasSuffix(string(kv.Key), "/hello") {
						n++
					}
				}
				return n == len(want)
			}, waitFor, 50*time.Millisecond, "the restarted member serves the final intent")
		}()
	}

	var st *roll.Status
	require.Eventually(t, func() bool {
		st = w.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Done
	}, waitFor, 10*time.Millisecond, "roll done; status %+v", st)
	took := time.Since(start)

	// The end state: exactly the desired pods, all the new version, one
	// per node, each labelled with the new RC and running it.
	placed := w.placed("hello")
	require.Len(t, placed, rollDesired, "hello scheduled on %v", placed)
	for node, d := range placed {
		require.Equal(t, d2, d, "node %s has v2 in its intent", node)
	}
	ls, err := w.labels.List(w.ctx, labels.Pod)
	require.NoError(t, err)
	labelled := map[string]string{}
	for _, o := range ls.Items {
		if node, pod, _ := strings.Cut(o.Name, "/"); pod == "hello" {
			labelled[node] = o.Value[rc.IDLabel]
		}
	}
	require.Len(t, labelled, rollDesired, "pod labels %v", labelled)
	for node := range placed {
		require.Equal(t, "hello-v2", labelled[node], "pod label of %s", node)
	}
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, n := range nodes {
			d, running := w.nodes[n].Running("hello")
			if _, want := placed[n]; running != want || (want && d != d2) {
				return false
			}
		}
		return true
	}, waitFor, 10*time.Millisecond, "v2 runs on exactly %v", placed)

	checkRollHistory(t, w, from, w.revision())
	return took
}

// checkRollHistory replays intent and pod labels from etcd's history and
// checks, at every revision, that hello was scheduled on at most
// desired+1 and at least minimum nodes, that no node's hello was ever
// overwritten with another version in place (scheduled twice), and that
// no pod label passed from one RC to another while the pod was scheduled.
func checkRollHistory(t *testing.T, w *world, from, to int64) {
	t.Helper()
	type ev struct {
		rev int64
		e   *clientv3.Event
	}
	var all []ev
	for _, prefix := range []string{"/p2/intent/", "/p2/labels/pod/"} {
		for _, e := range w.history(prefix, from, to) {
			all = append(all, ev{e.Kv.ModRevision, e})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].rev < all[j].rev })
	scheduled := map[string]string{} // node -> digest-bearing value
	owner := map[string]string{}     // node -> RC id in the pod label
	// Seed the state at from-1 from what the history's first events say
	// they replaced.
	for _, prefix := range []string{"/p2/intent/", "/p2/labels/pod/"} {
		resp, err := w.cli.Get(w.ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from-1))
		require.NoError(t, err)
		for _, kv := range resp.Kvs {
			node, pod, ok := nodePod(prefix, string(kv.Key))
			if !ok || pod != "hello" {
				continue
			}
			if prefix == "/p2/intent/" {
				scheduled[node] = string(kv.Value)
			} else {
				owner[node] = podLabelRC(kv)
			}
		}
	}
	most, least, changes := len(scheduled), len(scheduled), 0
	for i, x := range all {
		e := x.e
		for _, prefix := range []string{"/p2/intent/", "/p2/labels/pod/"} {
			node, pod, ok := nodePod(prefix, string(e.Kv.Key))
			if !ok || pod != "hello" {
				continue
			}
			changes++
			switch {
			case prefix == "/p2/intent/" && e.Type == mvccpb.DELETE:
				delete(scheduled, node)
			case prefix == "/p2/intent/":
				if old, ok := scheduled[node]; ok && old != string(e.Kv.Value) {
					t.Errorf("revision %d: hello on %s overwritten in place with another version: scheduled twice", x.rev, node)
				}
				scheduled[node] = string(e.Kv.Value)
			case e.Type == mvccpb.DELETE:
				delete(owner, node)
			default:
				id := podLabelRC(e.Kv)
				if old, ok := owner[node]; ok && old != id {
					if _, on := scheduled[node]; on {
						t.Errorf("revision %d: pod %s/hello passed from RC %s to %s while scheduled", x.rev, node, old, id)
					}
				}
				owner[node] = id
			}
		}
		// Judge each revision once all its events are applied.
		if i+1 == len(all) || all[i+1].rev != x.rev {
			most, least = max(most, len(scheduled)), min(least, len(scheduled))
		}
	}
	require.LessOrEqual(t, most, rollDesired+1, "hello was never on more than desired+1 nodes at once")
	require.GreaterOrEqual(t, least, rollMinimum, "hello was never on fewer than minimum nodes")
	t.Logf("history %d..%d: %d changes of hello's intent and labels; scheduled on %d to %d nodes", from, to, changes, least, most)
}

// nodePod splits "<prefix><node>/<pod>" keys.
func nodePod(prefix, key string) (node, pod string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", "", false
	}
	node, pod, ok = strings.Cut(rest, "/")
	return node, pod, ok && !strings.Contains(pod, "/")
}

var _ = fmt.Sprint
