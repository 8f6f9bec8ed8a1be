package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const actor = "fleetsim"

// nodeLabels are the labels of every simulated node; the daemon set and
// the RCs select them.
var nodeLabels = labels.Set{"fleetsim": "node"}

const nodeSelector = "fleetsim=node"

// phase is one step of the scenario: act starts it, converged counts the
// nodes that reached its goal, done says when it is over (default: every
// node converged), and check runs once it is, to judge the outcome.
type phase struct {
	name      string
	nodes     int
	act       func(ctx context.Context) error
	converged func() int
	done      func(ctx context.Context, n int) (bool, error)
	check     func(ctx context.Context, r *result) error
}

// app is a manifest of pod id at version; nothing is downloaded, the
// in-memory installer only reads its digest.
func app(id string, version int) *manifest.Manifest {
	return &manifest.Manifest{
		ID: id,
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       fmt.Sprintf("file:///srv/fleetsim/%s_%d.tar.gz", id, version),
			Digest:         fmt.Sprintf("sha256:%064x", version),
		}},
		Config: map[string]any{"version": version},
	}
}

func digest(m *manifest.Manifest) string {
	d, err := m.Digest()
	if err != nil {
		panic(err) // the manifests above are valid
	}
	return d
}

// phases is the scenario the flags ask for.
func (s *sim) phases() []phase {
	n, r := len(s.nodes), s.cfg.replicas
	agent, v1, v2 := app("agent", 1), app("app", 1), app("app", 2)
	ps := []phase{
		{name: "start", nodes: n, act: s.startFleet, converged: s.obs.selfSeen},
		{name: "daemon-set", nodes: n, act: s.createDaemonSet(agent),
			converged: func() int { return s.obs.healthy(agent.ID, digest(agent)) }},
		{name: "rc", nodes: r, act: s.createRC(v1),
			converged: func() int { return s.obs.healthy(v1.ID, digest(v1)) }},
		{name: "roll", nodes: r, act: s.startRoll(v1, v2, false),
			converged: func() int { return s.obs.healthy(v2.ID, digest(v2)) },
			done:      s.rollDone(rcID(v2))},
	}
	if s.cfg.failover {
		v3 := app("app", 3)
		fo := &failover{s: s, from: v2, to: v3}
		ps = append(ps, phase{name: "controller-failover", nodes: r, act: fo.act,
			converged: func() int { return s.obs.healthy(v3.ID, digest(v3)) },
			done:      fo.done, check: fo.check})
	}
	agentHealthy := func() int { return s.obs.healthy(agent.ID, digest(agent)) }
	if s.cfg.massDelete {
		md := &massDelete{s: s}
		ps = append(ps,
			phase{name: "mass-delete", nodes: n, act: md.wipe, converged: md.holding, check: md.checkHeld},
			phase{name: "restore", nodes: n, act: md.restore, converged: md.recovered,
				check: func(ctx context.Context, r *result) error {
					if err := md.checkNoUninstalls(r); err != nil {
						return err
					}
					if h := agentHealthy(); h != n {
						return fmt.Errorf("after the restore the daemon set's pod is healthy on %d of %d nodes", h, n)
					}
					return nil
				}})
	}
	steady := agentHealthy // what every node keeps while idle
	if s.cfg.release {
		name := "mass-delete"
		if s.cfg.massDelete {
			name = "mass-delete-2"
		}
		md := &massDelete{s: s, meant: true}
		rl := &release{s: s, md: md}
		ps = append(ps,
			phase{name: name, nodes: n, act: md.wipe, converged: md.holding, check: md.checkHeld},
			phase{name: "release", nodes: n, act: rl.act, converged: rl.converged, check: rl.check})
		steady = s.bare
	}
	if s.cfg.idle > 0 {
		var start time.Time
		var installs int64
		ps = append(ps, phase{name: "idle", nodes: n,
			act:       func(context.Context) error { start, installs = time.Now(), s.installs(); return nil },
			converged: steady,
			done: func(_ context.Context, got int) (bool, error) {
				return got >= n && time.Since(start) >= s.cfg.idle, nil
			},
			check: func(context.Context, *result) error {
				if d := s.installs() - installs; d != 0 {
					return fmt.Errorf("%d pods installed while idle", d)
				}
				return nil
			}})
	}
	return ps
}

// rcID is the RC that runs version m of the app.
func rcID(m *manifest.Manifest) string {
	return fmt.Sprintf("%s-v%d", m.ID, m.Config["version"])
}

// startFleet starts the controller, labels the nodes and writes each
// node's self pod in a few large transactions, then starts the preparers.
func (s *sim) startFleet(ctx context.Context) error {
	var err error
	if s.ctl, err = s.startController("controller"); err != nil {
		return err
	}
	ls, err := labels.New(s.drv, keyspace.WithPrefix(s.cfg.prefix)).Of(labels.Node)
	if err != nil {
		return err
	}
	is := intent.NewStore(s.drv, keyspace.WithPrefix(s.cfg.prefix))
	self := app(preparer.DefaultSelfPodID, 1)
	ops := make([]clientv3.Op, 0, 2*len(s.nodes))
	for _, node := range s.nodes {
		lop, err := ls.PutOp(node, &nodeLabels)
		if err != nil {
			return err
		}
		iop, err := is.SetOp(node, self)
		if err != nil {
			return err
		}
		ops = append(ops, lop, iop)
	}
	if _, err := kv.CommitChunked(ctx, s.drv, nil, ops); err != nil {
		return fmt.Errorf("label nodes and write self pods: %w", err)
	}
	return s.startPreparers()
}

func (s *sim) createDaemonSet(m *manifest.Manifest) func(context.Context) error {
	return func(ctx context.Context) error {
		ds := &daemonset.DaemonSet{ID: m.ID, PodID: m.ID, Manifest: *m, NodeSelector: nodeSelector, MinHealth: 50}
		_, err := daemonset.NewStore(s.drv, keyspace.WithPrefix(s.cfg.prefix)).Create(ctx, actor, ds)
		return err
	}
}

func (s *sim) createRC(m *manifest.Manifest) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := rc.NewStore(s.drv, keyspace.WithPrefix(s.cfg.prefix)).Create(ctx, actor, &rc.RC{
			ID: rcID(m), Manifest: *m, NodeSelector: nodeSelector,
			PodLabels: map[string]string{"app": m.ID}, ReplicasDesired: s.cfg.replicas})
		return err
	}
}

// startRoll creates the RC of m at 0 replicas and the roll to it from the
// RC of old, moving a tenth of the replicas at a time; paused, the roll
// takes no step until resumed.
func (s *sim) startRoll(old, m *manifest.Manifest, paused bool) func(context.Context) error {
	return func(ctx context.Context) error {
		id := rcID(m)
		if _, err := rc.NewStore(s.drv, keyspace.WithPrefix(s.cfg.prefix)).Create(ctx, actor, &rc.RC{
			ID: id, Manifest: *m, NodeSelector: nodeSelector,
			PodLabels: map[string]string{"app": m.ID}, ReplicasDesired: 0}); err != nil {
			return err
		}
		r := s.cfg.replicas
		_, err := roll.NewStore(s.drv, keyspace.WithPrefix(s.cfg.prefix)).Create(ctx, actor, &roll.Roll{
			ID: id, OldRC: rcID(old), NewRC: id, DesiredReplicas: r, MinimumReplicas: r - rollStep(r), Paused: paused})
		return err
	}
}

// rollStatus reads the farm's status record of roll id; nil when there is
// none yet.
func (s *sim) rollStatus(ctx context.Context, id string) (*roll.Status, error) {
	o, err := roll.NewStatusStore(s.obs.cli, keyspace.WithPrefix(s.cfg.prefix)).Get(ctx, status.Rolls, id)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &o.Value, nil
}

// rollDone is true once every new replica is healthy and the roll farm
// says roll id is done; a failed or halted roll ends the phase with an
// error.
func (s *sim) rollDone(id string) func(ctx context.Context, n int) (bool, error) {
	return func(ctx context.Context, n int) (bool, error) {
		if n < s.cfg.replicas {
			return false, nil
		}
		st, err := s.rollStatus(ctx, id)
		if err != nil || st == nil {
			return false, err
		}
		switch st.Phase {
		case roll.Done:
			return true, nil
		case roll.Failed, roll.Halted:
			return false, fmt.Errorf("roll %s %s: %s", id, st.Phase, st.Message)
		}
		return false, nil
	}
}

// massDelete is P2's classic outage: every node's intent deleted at once
// with a raw client, then restored.
type massDelete struct {
	s          *sim
	meant      bool       // released, not restored: nothing is saved
	saved      string     // the file of the intent deleted (see backup), until restored
	uninstalls int64      // before the deletion
	held       [][]string // per node: the pods installed when the intent was deleted
}

func (md *massDelete) dir() string { return md.s.cfg.prefix + "/intent/" }

// wipe saves every node's intent (on the uncounted client) unless the
// deletion is meant, and deletes it all in one DeleteRange.
func (md *massDelete) wipe(ctx context.Context) error {
	md.uninstalls = md.s.uninstalls()
	md.held = make([][]string, len(md.s.mem))
	for i, m := range md.s.mem {
		pods, err := m.Pods()
		if err != nil {
			return err
		}
		md.held[i] = pods
	}
	if !md.meant {
		// The operator's copy, to put back, on disk. It is read a page
		// at a time at one revision, which --compact-every must leave
		// alone meanwhile.
		md.s.compact.keep(1)
		path, err := backup(ctx, md.s.obs.cli, md.dir())
		md.s.compact.keep(0)
		if err != nil {
			return fmt.Errorf("backup of the intent: %w", err)
		}
		md.saved = path
		md.s.removeOnClose(path)
	}
	// One raft entry removes every key. On an etcd that is behind, its
	// answer can time out although it was (or will be) applied, and etcd
	// refuses new requests while its apply is far behind; a deletion of
	// the prefix is the same whenever it is applied, so it is sent again
	// until one is answered.
	for {
		_, err := md.s.drv.Delete(ctx, md.dir(), clientv3.WithPrefix())
		if err == nil || !etcdBehind(ctx, err) {
			return err
		}
		fmt.Fprintf(md.s.out, "mass deletion: %v; sending it again\n", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (md *massDelete) holding() int { return md.s.obs.holdsOf("preparer/") }

func (md *massDelete) recovered() int { return len(md.s.nodes) - md.holding() }

// checkHeld confirms every preparer's hold with failsafe.ListHolds, then
// watches for --hold-for that no node uninstalls anything.
func (md *massDelete) checkHeld(ctx context.Context, r *result) error {
	recs, err := failsafe.ListHolds(ctx, md.s.obs.cli, md.s.cfg.prefix)
	if err != nil {
		return err
	}
	for _, h := range recs {
		if strings.HasPrefix(h.Component, "preparer/") {
			r.holds++
		}
	}
	if r.holds != len(md.s.nodes) {
		return fmt.Errorf("failsafe.ListHolds: %d preparer holds, want %d", r.holds, len(md.s.nodes))
	}
	t := time.NewTimer(md.s.cfg.holdFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return md.checkNoUninstalls(r)
}

func (md *massDelete) checkNoUninstalls(r *result) error {
	r.uninstalls = md.s.uninstalls() - md.uninstalls
	r.checkedUninstalls = true
	if r.uninstalls != 0 {
		return fmt.Errorf("%d pods uninstalled after the mass deletion", r.uninstalls)
	}
	return nil
}

// restore writes the saved intent back, a page of puts a transaction,
// and removes the copy.
func (md *massDelete) restore(ctx context.Context) error {
	if err := readBackup(md.saved, func(ops []clientv3.Op) error { return md.put(ctx, ops) }); err != nil {
		return err
	}
	return os.Remove(md.saved)
}

// put writes ops in one transaction, sent again while etcd is behind.
func (md *massDelete) put(ctx context.Context, ops []clientv3.Op) error {
	for {
		_, err := kv.Commit(ctx, md.s.drv, nil, ops...)
		if err == nil || !etcdBehind(ctx, err) {
			return err
		}
		// The puts may have been applied; they are the same whenever
		// applied, so they are sent again.
		fmt.Fprintf(md.s.out, "restore: %v; sending the %d puts again\n", err, len(ops))
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// etcdBehind says whether err is etcd answering that it is behind or
// between leaders (the request timed out, for one of its reasons; too many
// requests wait for its apply; the leader changed or is not known) while
// ctx goes on: a request of the driver's that is the same whenever applied
// can be sent again.
func etcdBehind(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, e := range []error{rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTooManyRequests, rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
