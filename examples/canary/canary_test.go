package main

import (
	"bytes"
	"context"
	"errors"

	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const wait = 30 * time.Second

// fixture is an etcd with nodes a and c labelled canary=yes, b canary=no,
// and the canary "probe" selecting canary=yes.
type fixture struct {
	t    *testing.T
	etcd *etcdtest.Cluster
	cli  *clientv3.Client
	ls   *labels.Store
}

func newFixture(t *testing.T) *fixture {
	e := etcdtest.New(t)
	cli := e.Client(t)
	f := &fixture{t: t, etcd: e, cli: cli, ls: labels.New(cli)}
	for node, v := range map[string]string{"a": "yes", "b": "no", "c": "yes"} {
		f.label(node, v)
	}
	return f
}

func (f *fixture) label(node, v string) {
	_, err := f.ls.Put(context.Background(), labels.Node, node, labels.Set{"canary": v, "zone": "z1"})
	require.NoError(f.t, err)
}

func probe(version string) *Canary { return canary("probe", version) }

// canary selects canary=yes and runs pod "<id>-pod".
func canary(id, version string) *Canary {
	m := manifest.Manifest{ID: id + "-pod", Launchables: map[string]manifest.Launchable{
		"app": {LaunchableType: "hoist", Location: "file:///srv/" + id + "_" + version + ".tar.gz"}}}
	return &Canary{ID: id, Manifest: m, NodeSelector: labels.MustParse("canary=yes")}
}

// start runs the binary (its run function: its own client and
// farm.Manager) until the returned stop is called.
func (f *fixture) start(identity string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--etcd", strings.Join(f.etcd.Endpoints(), ","), "--identity", identity,
			"--log-level", "debug", "--resync", "1h"}, io.Discard) // only changes make it act
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(f.t, <-done)
		}
	}
	f.t.Cleanup(stop)
	return stop
}

// placement is where canary id's pod is: the nodes with its intent, the
// pods labelled with its owner label, and the farm's status record.
type placement struct {
	intent, labelled []string
	status           Status
}

func (f *fixture) placement(id string) placement {
	ctx := context.Background()
	var p placement
	all, err := intent.NewStore(f.cli).ListAll(ctx)
	require.NoError(f.t, err)
	for _, o := range all.Items {
		if strings.HasSuffix(o.Name, "/"+id+"-pod") {
			p.intent = append(p.intent, o.Name)
		}
	}
	p.labelled, err = f.ls.Matching(ctx, labels.Pod, labels.MustParse(OwnerLabel+"="+id+",pod_id="+id+"-pod"))
	require.NoError(f.t, err)
	ss, err := status.NewStore[Status](f.cli, StatusNamespace)
	require.NoError(f.t, err)
	if s, err := ss.Get(ctx, Kind, id); err == nil {
		p.status = s.Value
	} else {
		require.ErrorIs(f.t, err, kv.ErrNotFound)
	}
	return p
}

// waitPlaced waits until canary id's pod runs on node alone, labelled,
// and the status record says so with matched nodes.
func (f *fixture) waitPlaced(id, node string, matched int) {
	want := node + "/" + id + "-pod"
	var p placement
	if !assert.Eventually(f.t, func() bool {
		p = f.placement(id)
		return strings.Join(p.intent, ",") == want && strings.Join(p.labelled, ",") == want &&
			p.status.Node == node && p.status.Matched == matched
	}, wait, 20*time.Millisecond) {
		f.t.Fatalf("want %s on %s alone (matched %d); have %+v", id, node, matched, p)
	}
}

func TestPlacementOnMatchingNode(t *testing.T) {
	f := newFixture(t)
	f.start("one")
	store := NewStore(f.cli)
	obj, err := store.Create(context.Background(), "alice", probe("1"))
	require.NoError(t, err)
	f.waitPlaced("probe", "a", 2)
	require.Equal(t, obj.ModRevision, f.placement("probe").status.Observed)

	recs, err := audit.NewLog(f.cli).List(context.Background(), time.Time{}, 10)
	require.NoError(t, err)
	require.Len(t, recs.Items, 1)
	require.Equal(t, Kind, recs.Items[0].Value.Entity)

	_, err = store.Create(context.Background(), "alice", &Canary{ID: "bad", Manifest: probe("1").Manifest})
	require.ErrorContains(t, err, "node_selector")
}

func TestRelabelMovesPod(t *testing.T) {
	f := newFixture(t)
	f.start("one")
	store := NewStore(f.cli)
	_, err := store.Create(context.Background(), "alice", probe("1"))
	require.NoError(t, err)
	f.waitPlaced("probe", "a", 2)

	f.label("a", "no")
	f.waitPlaced("probe", "c", 1)
	f.label("c", "no") // no node matches: the pod stays where it runs
	require.Eventually(t, func() bool { return f.placement("probe").status.Matched == 0 }, wait, 20*time.Millisecond)
	require.Equal(t, []string{"c/probe-pod"}, f.placement("probe").intent)
	f.label("b", "yes")
	f.waitPlaced("probe", "b", 1)

	// A deleted canary leaves its pod where it runs, as a deleted daemon
	// set does: once the farm has let it go (its lock), a relabel that
	// moves another canary does not move it.
	require.NoError(t, store.Delete(context.Background(), "alice", "probe"))
	require.Eventually(t, func() bool { return f.lockOwner("probe") == 0 }, wait, 20*time.Millisecond)
	f.label("b", "no")
	f.label("a", "yes")
	_, err = store.Create(context.Background(), "alice", canary("other", "1"))
	require.NoError(t, err)
	f.waitPlaced("other", "a", 1)
	require.Equal(t, placement{intent: []string{"b/probe-pod"}, labelled: []string{"b/probe-pod"},
		status: f.placement("probe").status}, f.placement("probe"))
	require.Equal(t, "b", f.placement("probe").status.Node)
}

func TestWipedLabelTreeChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.start("one")
	ctx := context.Background()
	store := NewStore(f.cli)
	_, err := store.Create(ctx, "alice", probe("1"))
	require.NoError(t, err)
	f.waitPlaced("probe", "a", 2)

	key, err := f.ls.Key(labels.Node, "a")
	require.NoError(t, err)
	_, err = f.cli.Delete(ctx, strings.TrimSuffix(key, "a"), clientv3.WithPrefix())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		holds, err := failsafe.ListHolds(ctx, f.cli, "/p2")
		return err == nil && len(holds) > 0
	}, wait, 20*time.Millisecond, "the fleet view holds the wiped node labels")

	// A change of the canary makes the farm act while the wipe is held: it
	// still sees both matching nodes and keeps the pod (at its new version).
	obj, err := store.Modify(ctx, "alice", "probe", func(c *Canary) error { *c = *probe("2"); return nil })
	require.NoError(t, err)
	require.Eventually(t, func() bool { return f.placement("probe").status.Observed == obj.ModRevision }, wait, 20*time.Millisecond)
	p := f.placement("probe")
	require.Equal(t, Status{Node: "a", Matched: 2, Observed: obj.ModRevision}, p.status)
	require.Equal(t, []string{"a/probe-pod"}, p.intent)
	got, err := intent.NewStore(f.cli).Get(ctx, "a", "probe-pod")
	require.NoError(t, err)
	require.True(t, manifest.SameVersion(&obj.Value.Manifest, &got.Value))
}

// lockOwner is the lease of the process that holds canary id's lock.
func (f *fixture) lockOwner(id string) clientv3.LeaseID {
	resp, err := f.cli.Get(context.Background(), "/p2/locks/"+Kind+"/"+id+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
	require.NoError(f.t, err)
	if len(resp.Kvs) == 0 {
		return 0
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

func TestTakeoverBySecondProcess(t *testing.T) {
	f := newFixture(t)
	stopFirst := f.start("one")
	_, err := NewStore(f.cli).Create(context.Background(), "alice", probe("1"))
	require.NoError(t, err)
	f.waitPlaced("probe", "a", 2)
	first := f.lockOwner("probe")
	require.NotZero(t, first)

	f.start("two")
	stopFirst() // its lease is revoked: the second takes over at once
	require.Eventually(t, func() bool { o := f.lockOwner("probe"); return o != 0 && o != first }, wait, 20*time.Millisecond)
	f.label("a", "no")
	f.waitPlaced("probe", "c", 1)
}

func TestBinaryFlags(t *testing.T) {
	err := run(context.Background(), []string{"--etcd", "127.0.0.1:1", "--dial-timeout", "200ms"}, io.Discard)
	require.ErrorContains(t, err, "etcd 127.0.0.1:1 unreachable")
	for _, args := range [][]string{{"--prefix", "p2"}, {"--log-level", "loud"}, {"--nope"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out)
		require.Error(t, err, "%v", args)
	}
	var out bytes.Buffer
	require.True(t, errors.Is(run(context.Background(), []string{"-h"}, &out), pflag.ErrHelp))
	require.Contains(t, out.String(), "--etcd-ca")
}

// TestFencedWrites takes the farm's lock away in the middle of a reconcile:
// none of the reconcile's writes lands, its error is farm.ErrNotOwner, and
// another process takes the canary on. The farm is wired as NewFarm wires
// it, with the lock taken away between the claim and the reconciler.
func TestFencedWrites(t *testing.T) {
	f := newFixture(t)
	pods, err := labels.New(f.cli).Of(labels.Pod)
	require.NoError(t, err)
	cf := &canaryFarm{intent: intent.NewStore(f.cli), pods: pods}
	cf.statuses, err = status.NewStore[Status](f.cli, StatusNamespace)
	require.NoError(t, err)
	type outcome struct {
		err   error
		after placement
	}
	first := make(chan outcome, 1)
	var stolen atomic.Bool
	cf.ctrl, err = farm.For[Canary](f.cli, Kind, NewStore(f.cli)).
		OnEvent(func(ev *kv.Event[Canary]) []string { cf.ids.Store(ev.Name, ev.Type != kv.Delete); return nil }).
		WatchesFleet(cf.mapFleet).
		Complete(farm.ReconcilerFunc[Canary](func(ctx context.Context, id string, c *kv.Object[Canary]) (farm.Result, error) {
			if stolen.Swap(true) {
				return cf.Reconcile(ctx, id, c)
			}
			_, err := f.cli.Delete(ctx, "/p2/locks/"+Kind+"/"+id+"/", clientv3.WithPrefix())
			require.NoError(t, err)
			res, err := cf.Reconcile(ctx, id, c)
			first <- outcome{err: err, after: f.placement(id)}
			return res, err
		}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cf.ctrl.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	_, err = NewStore(f.cli).Create(ctx, "alice", probe("1"))
	require.NoError(t, err)
	var o outcome
	select {
	case o = <-first:
	case <-time.After(wait):
		t.Fatal("no reconcile")
	}
	require.ErrorIs(t, o.err, farm.ErrNotOwner)
	require.Empty(t, o.after.intent, "an intent written without the lock")
	require.Empty(t, o.after.labelled, "pod labels written without the lock")
	require.Equal(t, Status{}, o.after.status, "a status written without the lock")
	f.start("two") // the lock is free: another process claims it and goes on
	f.waitPlaced("probe", "a", 2)
}
