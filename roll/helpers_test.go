package roll_test

import (
	"context"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleettest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const waitFor = fleettest.WaitFor

// fleetEnv is a fleettest.Fleet with the stores these tests use.
type fleetEnv struct {
	*fleettest.Fleet
	t      *testing.T
	c      *etcdtest.Cluster
	cli    *clientv3.Client
	ctx    context.Context
	rcs    *rc.Store
	rolls  *roll.Store
	labels *labels.Store
	intent *intent.Store
	nodes  map[string]*memory.Node
}

func newFleet(t *testing.T) *fleetEnv {
	f := fleettest.New(t)
	return &fleetEnv{Fleet: f, t: t, c: f.Etcd, cli: f.Cli, ctx: f.Ctx, rcs: rc.NewStore(f.Cli), rolls: roll.NewStore(f.Cli),
		labels: f.Labels, intent: f.Intent, nodes: f.Nodes}
}

var (
	quiet        = fleettest.Quiet
	testManifest = fleettest.Manifest
	nodeNames    = fleettest.NodeNames
	farmOpts     = fleettest.FarmOptions
)

// startNodes labels nodes, gives each its preparer's own pod and runs a
// preparer on a memory node for each until the test ends.
func (e *fleetEnv) startNodes(set labels.Set, names ...string) { e.StartNodes(nil, set, names...) }

// startNodesWith is startNodes whose memory nodes keep the digests for
// which unhealthy is true critical.
func (e *fleetEnv) startNodesWith(unhealthy func(digest string) bool, set labels.Set, names ...string) {
	e.StartNodes(unhealthy, set, names...)
}

// scheduled lists the nodes whose intent holds pod, sorted.
func (e *fleetEnv) scheduled(pod string) []string { return e.Scheduled(pod) }

// runRCFarm starts an RC farm with fast settings until the test ends.
func (e *fleetEnv) runRCFarm(opts ...farm.Option) *rc.Farm {
	e.t.Helper()
	f, err := rc.NewFarm(e.cli, farmOpts(e.t, opts...)...)
	require.NoError(e.t, err)
	e.Run(f.Run)
	return f
}

// runRollFarm starts a roll farm with fast settings until the test ends.
func (e *fleetEnv) runRollFarm(opts ...farm.Option) *roll.Farm {
	e.t.Helper()
	f, err := roll.NewFarm(e.cli, farmOpts(e.t, opts...)...)
	require.NoError(e.t, err)
	e.Run(f.Run)
	return f
}

// rcStatus reads the RC farm's record of id, nil when there is none.
func (e *fleetEnv) rcStatus(id string) *rc.Status {
	o, err := rc.NewStatusStore(e.cli).Get(e.ctx, status.ReplicationControllers, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

// rollStatus reads the roll farm's record of id, nil when there is none.
func (e *fleetEnv) rollStatus(id string) *roll.Status {
	o, err := roll.NewStatusStore(e.cli).Get(e.ctx, status.Rolls, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

// replicas reads an RC's replicas_desired, -1 when it is gone.
func (e *fleetEnv) replicas(id string) int {
	o, err := e.rcs.Get(e.ctx, id)
	if err != nil {
		return -1
	}
	return o.Value.ReplicasDesired
}

func versionRC(id string, m *manifest.Manifest, replicas int) *rc.RC {
	return &rc.RC{ID: id, Manifest: *m, NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": m.ID}, ReplicasDesired: replicas}
}

var digest = fleettest.Digest
