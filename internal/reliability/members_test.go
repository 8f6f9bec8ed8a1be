package reliability_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// runs reports whether n runs exactly the given pods (pod -> digest),
// besides the preparer's own.
func runs(n *memory.Node, want map[string]string) bool {
	pods, _ := n.Pods()
	have := 0
	for _, p := range pods {
		if p == preparer.DefaultSelfPodID {
			continue
		}
		have++
		if d, ok := n.Running(p); !ok || d != want[p] {
			return false
		}
	}
	return have == len(want)
}

// A preparer whose client knows every member goes on converging while
// each member in turn is stopped: one of them is the member its watch
// stream is connected to, and the watch resumes through another.
func TestPreparerGoesOnThroughEachMemberStop(t *testing.T) {
	w := newWorld(t, 3)
	n := w.node("n1", labels.Set{"env": "prod"}, w.client(), nil)
	want := map[string]string{}
	set := func(m *manifest.Manifest) {
		w.retry("set intent", func(ctx context.Context) error {
			_, err := w.intent.Set(ctx, "n1", m)
			return err
		})
		want[m.ID] = digest(t, m)
	}
	set(version("app", 0))
	require.Eventually(t, func() bool { return runs(n, want) }, waitFor, 10*time.Millisecond)

	var slowest time.Duration
	for i, m := range w.etcd.Members {
		// Three changes while the member stops (embedded etcd's close
		// waits for open streams, as a draining member does) and once
		// it is down: a new version, a new pod, and the previous step's
		// pod removed.
		start := time.Now()
		stopped := make(chan struct{})
		go func() { defer close(stopped); m.Stop(t) }()
		set(version("app", i+1))
		set(version(fmt.Sprintf("extra%d", i), 1))
		if i > 0 {
			prev := fmt.Sprintf("extra%d", i-1)
			w.retry("delete intent", func(ctx context.Context) error {
				err := w.intent.Delete(ctx, "n1", prev)
				if err != nil && !errorsIsNotFound(err) {
					return err
				}
				return nil
			})
			delete(want, prev)
		}
		require.Eventually(t, func() bool { return runs(n, want) }, waitFor, 10*time.Millisecond,
			"with %s stopped the preparer converges to %v", m.Name, want)
		took := time.Since(start)
		slowest = max(slowest, took)
		figure(t, fmt.Sprintf("converged 3 changes written as %s stopped", m.Name), took.Round(time.Millisecond))
		<-stopped
		require.Eventually(t, func() bool { return runs(n, want) }, waitFor, 10*time.Millisecond)
		m.Restart(t)
	}
	figure(t, "slowest convergence with one member stopped", slowest.Round(time.Millisecond))
	require.EqualValues(t, len(w.etcd.Members)-1, n.Removes(), "the preparer removed the extra pods deleted from intent, and nothing else")
}

func errorsIsNotFound(err error) bool { return err != nil && errorsIs(err, kv.ErrNotFound) }

// A member stopped while the rest of the cluster moves on, then
// restarted, does not make the consumers connected to it alone act on its
// stale data: a preparer and a controller whose clients know only that
// member end with exactly the state written while it was down, with no
// pod installed again after its removal and no pod scheduled again after
// the RC was scaled down.
func TestStaleMemberMisleadsNoConsumer(t *testing.T) {
	w := newWorld(t, 3)
	m0 := w.etcd.Members[0]
	only0 := func() *clientv3.Client { return w.client(m0.Endpoint()) }
	n1 := w.node("n1", labels.Set{"env": "prod"}, only0(), nil)
	w.node("n2", labels.Set{"env": "prod"}, nil, nil)
	w.node("n3", labels.Set{"env": "prod"}, nil, nil)
	w.controller(only0(), nil)

	a, b := version("a", 1), version("b", 1)
	_, err := w.intent.Set(w.ctx, "n1", a)
	require.NoError(t, err)
	web := version("web", 1)
	_, err = w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "web", Manifest: *web, NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": "web"}, ReplicasDesired: 3})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := w.rcStatus("web")
		return runs(n1, map[string]string{"a": digest(t, a), "web": digest(t, web)}) &&
			st != nil && st.Current == 3 && st.Healthy == 3
	}, waitFor, 10*time.Millisecond, "a and web run on n1; web on three nodes")
	installs := n1.Installs()

	m0.Stop(t)
	// While m0 is down: a goes, b comes, web shrinks to one replica, and
	// enough else happens that m0 has a log to catch up on.
	w.retry("delete a", func(ctx context.Context) error { return w.intent.Delete(ctx, "n1", "a") })
	w.retry("set b", func(ctx context.Context) error { _, err := w.intent.Set(ctx, "n1", b); return err })
	w.retry("scale web", func(ctx context.Context) error {
		_, err := w.rcs.Modify(ctx, "alice", "web", func(r *rc.RC) error { r.ReplicasDesired = 1; return nil })
		return err
	})
	scaled := w.revision()
	for i := range 500 {
		w.retry("filler", func(ctx context.Context) error {
			_, err := w.cli.Put(ctx, fmt.Sprintf("/elsewhere/%d", i%50), fmt.Sprint(i))
			return err
		})
	}
	// A bounded window in which the consumers on m0 cannot act at all.
	require.Never(t, func() bool {
		d, ok := n1.Running("a")
		_, hasB := n1.Running("b")
		return !ok || d != digest(t, a) || hasB || len(w.placed("web")) != 3
	}, time.Second, 20*time.Millisecond, "consumers on the stopped member act on nothing")

	m0.Restart(t)
	restarted := time.Now()
	// A serializable read answers from m0's own copy at once; record
	// whether it was still behind (the hazard), then show that the
	// linearizable list and the watch's first batch through m0 are not.
	probe := only0()
	ser, err := probe.Get(w.ctx, "/p2/intent/n1/a", clientv3.WithSerializable())
	if err == nil {
		figure(t, "serializable read through the restarted member still saw deleted pod a", len(ser.Kvs) == 1)
	}
	fresh := newIntentStore(probe)
	watcher, err := fresh.WatchNode(w.ctx, "n1")
	require.NoError(t, err)
	first, err := watcher.Next(w.ctx)
	require.NoError(t, err)
	_, hasA := first.After.Get("a")
	_, hasB := first.After.Get("b")
	require.False(t, hasA, "the first listing through the restarted member has no a")
	require.True(t, hasB, "the first listing through the restarted member has b")
	watcher.Close()

	wantN1 := map[string]string{"b": digest(t, b), "web": digest(t, web)}
	require.Eventually(t, func() bool { return runs(n1, wantN1) && len(w.placed("web")) == 1 },
		waitFor, 10*time.Millisecond, "n1 runs b and web; web on one node")
	figure(t, "consumers on the restarted member converged after its restart", time.Since(restarted).Round(time.Millisecond))
	require.Equal(t, installs+1, n1.Installs(), "n1 installed b only: a was never installed again")
	require.EqualValues(t, 1, n1.Removes(), "n1 removed a once")

	// etcd's history after the scale-down: web's intent only shrinks.
	puts, deletes := 0, 0
	for _, ev := range w.history("/p2/intent/", scaled+1, w.revision()) {
		if _, pod, ok := nodePod("/p2/intent/", string(ev.Kv.Key)); ok && pod == "web" {
			if ev.Type == clientv3.EventTypeDelete {
				deletes++
			} else {
				puts++
			}
		}
		if _, pod, ok := nodePod("/p2/intent/", string(ev.Kv.Key)); ok && pod == "a" && ev.Type == clientv3.EventTypePut {
			t.Errorf("intent of a written again at revision %d", ev.Kv.ModRevision)
		}
	}
	require.Zero(t, puts, "web was not scheduled again after the scale-down")
	require.Equal(t, 2, deletes, "two web pods unscheduled")
}
