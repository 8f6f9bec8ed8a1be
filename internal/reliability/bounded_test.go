package reliability_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/retention"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newWorldWith is newWorld on members started with opts.
func newWorldWith(t *testing.T, members int, opts ...etcdtest.Option) *world {
	c := etcdtest.NewClusterWith(t, members, opts...)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return &world{t: t, etcd: c, cli: cli, ctx: ctx, labels: labels.New(cli), intent: intent.NewStore(cli),
		rcs: rc.NewStore(cli), rolls: roll.NewStore(cli), dss: daemonset.NewStore(cli), pcs: podcluster.NewStore(cli),
		nodes: map[string]*memory.Node{}}
}

// cleaner runs a retention cleaner through a new client until the test
// ends, logging to log (nil: quiet).
func (w *world) cleaner(log *zap.Logger, opts ...retention.Option) *retention.Cleaner {
	w.t.Helper()
	if log == nil {
		log = quiet(w.t)
	}
	c, err := retention.New(w.client(), append([]retention.Option{retention.WithLogger(log.Named("retention")),
		retention.WithTTL(2)}, opts...)...)
	require.NoError(w.t, err)
	w.run(c.Run)
	return c
}

// healthyRC waits until RC id runs n healthy replicas.
func (w *world) healthyRC(id string, n int) {
	w.t.Helper()
	require.Eventually(w.t, func() bool {
		st := w.rcStatus(id)
		return st != nil && st.Current == n && st.Healthy == n
	}, waitFor, 10*time.Millisecond, "%s healthy with %d replicas", id, n)
}

func (w *world) count(prefix string) int64 {
	w.t.Helper()
	resp, err := w.cli.Get(w.ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(w.t, err)
	return resp.Count
}

// writeAudit adds n audit records.
func (w *world) writeAudit(n int) {
	w.t.Helper()
	log := audit.NewLog(w.cli)
	var ops []clientv3.Op
	for i := range n {
		op, err := log.Op(audit.Updated, labels.Kind, fmt.Sprintf("node/n%d", i), "soak", map[string]int{"i": i})
		require.NoError(w.t, err)
		ops = append(ops, op)
	}
	_, err := kv.CommitChunked(w.ctx, w.cli, nil, ops)
	require.NoError(w.t, err)
}

// A running fleet, its controller's fleet view guarding pod status records
// with MaxDeletes(10, 0.5): the cleaner deletes the 40 records of a
// decommissioned node (87% of all pod records) and hundreds of audit
// records, and no guard holds, nothing else is deleted, no app moves.
func TestRetentionTripsNoFailsafe(t *testing.T) {
	w := newWorld(t, 1)
	nodes := nodeNames("n", 3)
	for _, n := range nodes {
		w.node(n, labels.Set{"env": "prod"}, nil, nil)
	}
	w.controller(w.client(), nil)
	_, err := w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "web", Manifest: *version("web", 1), NodeSelector: "env=prod",
		ReplicasDesired: 3})
	require.NoError(t, err)
	w.healthyRC("web", 3)

	// Node gone1 was decommissioned: its preparer, intent and reality are
	// gone, its pod status records stayed.
	ps := status.NewPodStatusStore(w.cli)
	for i := range 40 {
		_, err := ps.Set(w.ctx, "gone1", fmt.Sprintf("pod-%02d", i), &status.PodStatus{Status: status.Launched,
			ManifestDigest: strings.Repeat("ab", 32), Health: status.Passing, UpdatedAt: time.Now().UTC()})
		require.NoError(t, err)
	}
	w.writeAudit(600)
	before := map[string]int64{}
	for _, n := range nodes {
		before[n] = w.nodes[n].Removes()
	}
	deletes := etcdtest.WatchDeletes(t, w.cli, "/p2/", w.revision())

	c := w.cleaner(nil, retention.WithInterval(50*time.Millisecond), retention.WithStatusGrace(100*time.Millisecond),
		retention.WithAudit(audit.Retention{MaxRecords: 100}))
	require.Eventually(t, func() bool {
		l, err := ps.ListNode(w.ctx, "gone1")
		require.NoError(t, err)
		_, s := c.Deleted() // counted once the pass returns
		return len(l.Items) == 0 && w.count("/p2/audit/") <= 100 && s == 40
	}, waitFor, 20*time.Millisecond)
	a, s := c.Deleted()
	figure(t, "retention: audit and status records deleted", fmt.Sprintf("%d, %d", a, s))
	require.EqualValues(t, 40, s)

	require.Empty(t, w.holds(), "no guard read the clean-up as a wipe")
	for _, k := range deletes.Since() {
		ok := strings.HasPrefix(k, "/p2/audit/") || strings.HasPrefix(k, "/p2/status/pods/gone1/") ||
			strings.HasPrefix(k, "/p2/locks/")
		require.True(t, ok, "%s deleted", k)
	}
	for _, n := range nodes {
		require.Equal(t, before[n], w.nodes[n].Removes(), "%s removed nothing", n)
	}
	w.healthyRC("web", 3)
}

func newObserved(t *testing.T) (*zap.Logger, chan string) {
	msgs := make(chan string, 1000)
	core := zapcore.RegisterHooks(zapcore.NewNopCore(), func(e zapcore.Entry) error {
		select {
		case msgs <- e.Message:
		default:
		}
		return nil
	})
	return zap.New(zapcore.NewTee(quiet(t).Core(), core)), msgs
}

// With a small backend quota, etcd is filled until it raises NOSPACE:
// every app keeps running, nothing is held or removed, writes fail with
// "etcd is out of space" and the controller's cleaner says so; after the
// operator deletes the filler, compacts, defragments and disarms the
// alarm, the fleet converges on new changes and nothing was lost.
func TestNoSpace(t *testing.T) {
	w := newWorldWith(t, 1, etcdtest.WithQuotaBackendBytes(16<<20))
	nodes := nodeNames("n", 3)
	for _, n := range nodes {
		w.node(n, labels.Set{"env": "prod"}, nil, nil)
	}
	w.controller(w.client(), nil)
	log, msgs := newObserved(t)
	w.cleaner(log, retention.WithInterval(50*time.Millisecond))
	_, err := w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "web", Manifest: *version("web", 1), NodeSelector: "env=prod",
		ReplicasDesired: 3})
	require.NoError(t, err)
	w.healthyRC("web", 3)
	kept := map[string]map[string]int64{}
	for _, dir := range []string{"/p2/labels/", "/p2/intent/", "/p2/replication_controllers/", "/p2/audit/"} {
		kept[dir] = w.snapshot(dir)
	}
	installs, removes := map[string]int64{}, map[string]int64{}
	for _, n := range nodes {
		installs[n], removes[n] = w.nodes[n].Installs(), w.nodes[n].Removes()
	}

	big := strings.Repeat("x", 256<<10)
	filled := 0
	for ; ; filled++ {
		_, err := w.cli.Put(w.ctx, fmt.Sprintf("/fill/%04d", filled), big)
		if err != nil {
			require.ErrorIs(t, kv.EtcdError(err), kv.ErrNoSpace, "filling stopped by NOSPACE")
			break
		}
		require.Less(t, filled, 1000, "the quota is never reached")
	}
	figure(t, "NOSPACE: 256 KiB values written until the alarm (16 MiB quota)", filled)
	alarms, err := w.cli.AlarmList(w.ctx)
	require.NoError(t, err)
	require.NotEmpty(t, alarms.Alarms)

	// Writes say so plainly.
	_, err = w.rcs.Modify(w.ctx, "alice", "web", func(r *rc.RC) error { r.ReplicasDesired = 2; return nil })
	require.ErrorIs(t, err, kv.ErrNoSpace)
	require.Contains(t, err.Error(), "etcd is out of space")
	var said string
	require.Eventually(t, func() bool {
		select {
		case m := <-msgs:
			said = m
			return strings.Contains(m, "etcd is out of space")
		default:
			return false
		}
	}, waitFor, 10*time.Millisecond, "the controller's cleaner reports NOSPACE")
	t.Logf("controller said: %s", said)

	// Everything keeps running; nothing is held, installed or removed.
	require.Never(t, func() bool {
		for _, n := range nodes {
			if _, ok := w.nodes[n].Running("web"); !ok || w.nodes[n].Removes() != removes[n] ||
				w.nodes[n].Installs() != installs[n] {
				return true
			}
		}
		return len(w.holds()) > 0
	}, 2*time.Second, 20*time.Millisecond)

	// The operator frees space: delete the filler, compact, defragment,
	// disarm.
	_, err = w.cli.Delete(w.ctx, "/fill/", clientv3.WithPrefix())
	require.NoError(t, err, "deletes are allowed under NOSPACE")
	rev := w.revision()
	_, err = w.cli.Compact(w.ctx, rev, clientv3.WithCompactPhysical())
	require.NoError(t, err)
	for _, ep := range w.etcd.Endpoints() {
		_, err := w.cli.Defragment(w.ctx, ep)
		require.NoError(t, err)
	}
	for _, a := range alarms.Alarms {
		_, err := w.cli.AlarmDisarm(w.ctx, &clientv3.AlarmMember{MemberID: a.MemberID, Alarm: a.Alarm})
		require.NoError(t, err)
	}

	// The fleet converges on new changes.
	w.retry("scale web to 2", func(ctx context.Context) error {
		_, err := w.rcs.Modify(ctx, "alice", "web", func(r *rc.RC) error { r.ReplicasDesired = 2; return nil })
		return err
	})
	w.healthyRC("web", 2)
	_, err = w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "api", Manifest: *version("api", 1), NodeSelector: "env=prod",
		ReplicasDesired: 3})
	require.NoError(t, err)
	w.healthyRC("api", 3)
	require.Empty(t, w.holds())

	// Nothing was lost: every label, RC and audit record is still there,
	// and the intent of every pod but the one scaled away.
	for dir, keys := range kept {
		now := w.snapshot(dir)
		lost := 0
		for k := range keys {
			if _, ok := now[k]; !ok {
				lost++
			}
		}
		want := 0
		if dir == "/p2/intent/" || dir == "/p2/labels/" {
			want = 1 // web's intent (and its pod label) on the node scaled away
		}
		require.Equal(t, want, lost, "keys of %s lost", dir)
	}
}
