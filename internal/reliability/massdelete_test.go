package reliability_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// wipeFleet is a converged fleet of five nodes: a daemon set on every
// node, RCs a and b of three replicas, two rolls (c and d) stuck on a new
// version that never turns healthy, and pod clusters of a and b synced
// to files.
type wipeFleet struct {
	*world
	nodes  []string
	syncer *countingSyncer
	dir    string
}

func newWipeFleet(t *testing.T) *wipeFleet {
	w := newWorld(t, 1)
	f := &wipeFleet{world: w, nodes: nodeNames("n", 5), dir: t.TempDir()}
	f.syncer = newCountingSyncer(podcluster.NewFileSyncer(f.dir))
	bad := map[string]bool{digest(t, version("c", 2)): true, digest(t, version("d", 2)): true}
	for _, n := range f.nodes {
		w.node(n, labels.Set{"env": "prod"}, nil, func(d string) bool { return bad[d] })
	}
	w.controller(w.client(), f.syncer)

	ctx := w.ctx
	_, err := w.dss.Create(ctx, "alice", &daemonset.DaemonSet{ID: "agent", PodID: "agent", Manifest: *version("agent", 1),
		NodeSelector: "env=prod"})
	require.NoError(t, err)
	newRC := func(id, pod string, v, replicas int) {
		_, err := w.rcs.Create(ctx, "alice", &rc.RC{ID: id, Manifest: *version(pod, v), NodeSelector: "env=prod",
			PodLabels: map[string]string{"app": pod}, ReplicasDesired: replicas})
		require.NoError(t, err)
	}
	newRC("a", "a", 1, 3)
	newRC("b", "b", 1, 3)
	for _, app := range []string{"c", "d"} {
		newRC(app+"-v1", app, 1, 2)
		newRC(app+"-v2", app, 2, 0)
		_, err := w.rolls.Create(ctx, "alice", &roll.Roll{ID: app + "-v2", OldRC: app + "-v1", NewRC: app + "-v2",
			DesiredReplicas: 2, MinimumReplicas: 2})
		require.NoError(t, err)
	}
	for _, app := range []string{"a", "b"} {
		_, err := w.pcs.Create(ctx, "alice", &podcluster.PodCluster{ID: "web-" + app, PodID: app, AvailabilityZone: "az1",
			Name: "web-" + app, PodSelector: "app=" + app, MinHealthPercentage: 50})
		require.NoError(t, err)
	}

	why := ""
	require.Eventually(t, func() bool {
		why = ""
		for _, id := range []string{"a", "b"} {
			if st := w.rcStatus(id); st == nil || st.Current != 3 || st.Healthy != 3 {
				why = fmt.Sprintf("rc %s: %+v", id, st)
				return false
			}
			if m := f.syncer.members("web-" + id); strings.Count(m, ":true") != 3 {
				why = "members " + m
				return false
			}
		}
		for _, id := range []string{"c-v2", "d-v2"} {
			if st := w.rollStatus(id); st == nil || st.Phase != roll.Rolling || st.NewReplicas != 1 {
				why = fmt.Sprintf("roll %s: %+v", id, st)
				return false
			}
		}
		// The rolls' RCs have placed what the rolls asked of them: a
		// roll's status moves before its RCs write intent.
		l, err := w.rcs.List(ctx)
		if err != nil {
			why = err.Error()
			return false
		}
		for _, o := range l.Items {
			if st := w.rcStatus(o.Name); st == nil || st.Current != o.Value.ReplicasDesired {
				why = fmt.Sprintf("rc %s wants %d: %+v", o.Name, o.Value.ReplicasDesired, st)
				return false
			}
		}
		if len(w.placed("agent")) != len(f.nodes) {
			why = fmt.Sprint("agent ", w.placed("agent"))
			return false
		}
		if !f.allRunning() {
			why = "not all running"
		}
		// Every pod in intent runs on its node.
		return f.allRunning()
	}, waitFor, 20*time.Millisecond, "the fleet converges; last: %s", why)
	return f
}

// allRunning reports whether every pod in intent runs on its node.
func (f *wipeFleet) allRunning() bool {
	l, err := f.intent.ListAll(f.ctx)
	if err != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range l.Items {
		node, pod, _ := strings.Cut(o.Name, "/")
		if pod == preparer.DefaultSelfPodID {
			continue // the preparer marks itself in reality; it runs nothing
		}
		if d, ok := f.world.nodes[node].Running(pod); !ok || d != digest(f.t, &o.Value) {
			return false
		}
	}
	return true
}

// removes sums the pods the nodes uninstalled.
func (f *wipeFleet) removes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, node := range f.world.nodes {
		n += node.Removes()
	}
	return n
}

func (f *wipeFleet) installed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, node := range f.world.nodes {
		pods, _ := node.Pods()
		n += len(pods)
	}
	return n
}

// replicas maps each RC to its replicas_desired.
func (f *wipeFleet) replicas() map[string]int {
	l, err := f.rcs.List(f.ctx)
	require.NoError(f.t, err)
	out := map[string]int{}
	for _, o := range l.Items {
		out[o.Name] = o.Value.ReplicasDesired
	}
	return out
}

// release releases every recorded hold of the components keep accepts
// and waits until their records are gone.
func (f *wipeFleet) release(keep func(component string) bool) []failsafe.Record {
	f.t.Helper()
	var released []failsafe.Record
	for _, h := range f.holds() {
		if keep(h.Component) {
			require.NoError(f.t, failsafe.Release(f.ctx, f.cli, "/p2", h.ID, "reliability-test"))
			released = append(released, h)
		}
	}
	require.Eventually(f.t, func() bool {
		for _, h := range f.holds() {
			for _, r := range released {
				if h.ID == r.ID {
					return false
				}
			}
		}
		return true
	}, waitFor, 20*time.Millisecond, "released holds are delivered and removed")
	return released
}

func (f *wipeFleet) locks(kind string) int {
	resp, err := f.cli.Get(f.ctx, "/p2/locks/"+kind+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(f.t, err)
	return int(resp.Count)
}

// wipeCase is one tree wiped by a raw client: which components must hold,
// and what must happen once they are released.
type wipeCase struct {
	tree string // under /p2/
	// holders are the components that must hold (none: the tree has
	// no destructive consumer).
	holders func(f *wipeFleet) []string
	// unchanged are the prefixes no consumer may write during the hold.
	unchanged []string
	// release releases the holds and checks that the action proceeds.
	proceeds func(t *testing.T, f *wipeFleet)
}

var everyNode = func(f *wipeFleet) []string {
	var out []string
	for _, n := range f.nodes {
		out = append(out, "preparer/"+n)
	}
	return append(out, "controller/fleet")
}

var wipeCases = []wipeCase{
	{
		tree:    "intent",
		holders: everyNode,
		proceeds: func(t *testing.T, f *wipeFleet) {
			// Released, each preparer receives its node's net change:
			// every pod deleted. It uninstalls them all.
			before := f.installed()
			f.release(func(c string) bool { return strings.HasPrefix(c, "preparer/") })
			require.Eventually(t, func() bool { return f.installed() == 0 }, waitFor, 20*time.Millisecond,
				"the preparers uninstall the wiped pods")
			require.EqualValues(t, before, f.removes())
			f.release(func(c string) bool { return c == "controller/fleet" })
		},
	},
	{
		tree:      "reality",
		holders:   func(*wipeFleet) []string { return []string{"controller/fleet"} },
		unchanged: []string{"/p2/intent/", "/p2/replication_controllers/"},
		proceeds: func(t *testing.T, f *wipeFleet) {
			// Released, the controllers see nothing installed: the pods
			// count as unhealthy, and the load balancer files say so.
			f.release(func(string) bool { return true })
			require.Eventually(t, func() bool {
				st := f.rcStatus("a")
				return st != nil && st.Healthy == 0 && strings.Count(f.syncer.members("web-a"), ":false") == 3
			}, waitFor, 20*time.Millisecond, "pods without reality count as unhealthy")
			require.Zero(t, f.removes(), "and nothing is uninstalled")
		},
	},
	{
		tree:      "labels",
		holders:   func(*wipeFleet) []string { return []string{"controller/fleet"} },
		unchanged: []string{"/p2/intent/", "/p2/replication_controllers/"},
		proceeds: func(t *testing.T, f *wipeFleet) {
			// Released in order, node labels first: no node matches
			// any selector, so nothing is scheduled or unscheduled;
			// then pod labels: the RCs own no pods and the pod clusters
			// are synced empty. (Released the other way round, the RCs
			// would first see matching nodes without their pods and
			// schedule replacements: see docs/RELIABILITY.md.)
			f.release(func(string) bool { return false })
			for _, h := range f.holds() {
				if h.Guard == "not-empty" {
					require.NoError(t, failsafe.Release(f.ctx, f.cli, "/p2", h.ID, "reliability-test"))
				}
			}
			require.Eventually(t, func() bool {
				st := f.rcStatus("a")
				return st != nil && strings.Contains(st.Message, "0 nodes match")
			}, waitFor, 20*time.Millisecond, "the RC farm sees no node")
			f.release(func(string) bool { return true })
			require.Eventually(t, func() bool {
				st := f.rcStatus("a")
				return st != nil && st.Current == 0 && f.syncer.members("web-a") == "" && f.syncer.members("web-b") == ""
			}, waitFor, 20*time.Millisecond, "the pod clusters are synced without members")
			require.Empty(t, f.snapshot("/p2/labels/pod/"), "no pod labelled again")
			require.Zero(t, f.removes())
		},
	},
	{
		tree:      "daemon_sets",
		holders:   func(*wipeFleet) []string { return nil },
		unchanged: []string{"/p2/intent/"},
		proceeds: func(t *testing.T, f *wipeFleet) {
			// No hold: deletes never reach the daemon set farm's
			// reconciler. It gives the daemon set up (its lock goes)
			// and its pods stay.
			require.Eventually(t, func() bool { return f.locks("daemon_sets") == 0 }, waitFor, 20*time.Millisecond,
				"the daemon set farm gives up the deleted daemon set")
			require.Len(t, f.placed("agent"), len(f.nodes))
		},
	},
	{
		tree:      "replication_controllers",
		holders:   func(*wipeFleet) []string { return []string{"rc-farm"} },
		unchanged: []string{"/p2/intent/"},
		proceeds: func(t *testing.T, f *wipeFleet) {
			// Released, the RC farm forgets the RCs (their locks go);
			// a vanished RC's intent is never removed.
			f.release(func(string) bool { return true })
			require.Eventually(t, func() bool { return f.locks("replication_controllers") == 0 }, waitFor,
				20*time.Millisecond, "the RC farm gives up the deleted RCs")
		},
	},
	{
		tree:      "rolls",
		holders:   func(*wipeFleet) []string { return []string{"roll-farm"} },
		unchanged: []string{"/p2/intent/", "/p2/replication_controllers/"},
		proceeds: func(t *testing.T, f *wipeFleet) {
			// Released, each deleted roll halts and leaves both RCs as
			// they are.
			f.release(func(string) bool { return true })
			require.Eventually(t, func() bool {
				c, d := f.rollStatus("c-v2"), f.rollStatus("d-v2")
				return c != nil && d != nil && c.Phase == roll.Halted && d.Phase == roll.Halted
			}, waitFor, 20*time.Millisecond, "the deleted rolls halt")
		},
	},
	{
		tree:      "pod_clusters",
		holders:   func(*wipeFleet) []string { return []string{"pc-farm/file"} },
		unchanged: []string{"/p2/intent/"},
		proceeds: func(t *testing.T, f *wipeFleet) {
			// Released, the syncer is told to delete each cluster once.
			f.release(func(string) bool { return true })
			require.Eventually(t, func() bool {
				d := f.syncer.deleted()
				return d["web-a"] == 1 && d["web-b"] == 1
			}, waitFor, 20*time.Millisecond, "the syncer deletes the wiped clusters")
		},
	},
}

// Each tree in turn is wiped by a raw etcd client under a converged
// fleet. No destructive action follows, every consumer that could take
// one holds, and once an operator releases the holds the action
// proceeds.
func TestMassDeletionOfEachTree(t *testing.T) {
	for _, c := range wipeCases {
		t.Run(c.tree, func(t *testing.T) {
			t.Parallel()
			f := newWipeFleet(t)
			replicas := f.replicas()
			unchanged := map[string]map[string]int64{}
			for _, p := range c.unchanged {
				unchanged[p] = f.snapshot(p)
			}
			syncs := map[string]string{"web-a": f.syncer.members("web-a"), "web-b": f.syncer.members("web-b")}

			resp, err := f.cli.Delete(f.ctx, "/p2/"+c.tree+"/", clientv3.WithPrefix())
			require.NoError(t, err)
			wiped := time.Now()
			figure(t, "keys wiped", resp.Deleted)

			want := c.holders(f)
			if len(want) > 0 {
				require.Eventually(t, func() bool {
					have := components(f.holds())
					for _, w := range want {
						if !contains(have, w) {
							return false
						}
					}
					return true
				}, waitFor, 10*time.Millisecond, "held by %v; holds %v", want, components(f.holds()))
				figure(t, "every hold recorded after the wipe", time.Since(wiped).Round(time.Millisecond))
			}
			// A bounded window in which nothing destructive may happen.
			require.Never(t, func() bool {
				return f.removes() != 0 || len(f.syncer.deleted()) != 0 ||
					f.syncer.members("web-a") != syncs["web-a"] || f.syncer.members("web-b") != syncs["web-b"]
			}, 1500*time.Millisecond, 20*time.Millisecond, "no pod uninstalled, no cluster deleted or shrunk")
			for p, snap := range unchanged {
				require.Equal(t, snap, f.snapshot(p), "nothing under %s changed", p)
			}
			if c.tree == "intent" {
				require.Empty(t, f.snapshot("/p2/intent/"), "no farm rewrote the wiped intent")
			}
			if c.tree != "replication_controllers" {
				require.Equal(t, replicas, f.replicas(), "no RC scaled")
			}
			if len(want) == 0 {
				require.Empty(t, f.holds(), "a tree without a destructive consumer holds nothing")
			}
			holds := f.holds()
			for _, h := range holds {
				t.Logf("hold %s: %s/%s: %s (%d of %d deleted)", h.ID, h.Component, h.Guard, h.Reason, h.Deletes, h.Total)
			}
			released := time.Now()
			c.proceeds(t, f)
			if snap, ok := unchanged["/p2/intent/"]; ok {
				require.Equal(t, snap, f.snapshot("/p2/intent/"), "intent unchanged after the release too")
			}
			figure(t, "released to action proceeded", time.Since(released).Round(time.Millisecond))
			figure(t, "holds", fmt.Sprint(components(holds)))
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var _ = context.Background
