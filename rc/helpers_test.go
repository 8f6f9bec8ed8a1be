package rc_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleettest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
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
	labels *labels.Store
	intent *intent.Store
	nodes  map[string]*memory.Node
}

func newFleet(t *testing.T) *fleetEnv {
	f := fleettest.New(t)
	return &fleetEnv{Fleet: f, t: t, c: f.Etcd, cli: f.Cli, ctx: f.Ctx, rcs: rc.NewStore(f.Cli),
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

// scheduled lists the nodes whose intent holds pod, sorted.
func (e *fleetEnv) scheduled(pod string) []string { return e.Scheduled(pod) }

// runFarm starts an RC farm until the test ends or stop is called.
func (e *fleetEnv) runFarm(cli *clientv3.Client, opts ...farm.Option) (f *rc.Farm, stop func()) {
	e.t.Helper()
	f, err := rc.NewFarm(cli, farmOpts(e.t, opts...)...)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; cli.Ctx().Err() == nil {
				require.NoError(e.t, err)
			}
		})
	}
	e.t.Cleanup(stop)
	return f, stop
}

// podsOf lists "<node>/<pod>" labelled with the RC's id.
func (e *fleetEnv) podsOf(id string) []string {
	e.t.Helper()
	l, err := e.labels.List(e.ctx, labels.Pod)
	require.NoError(e.t, err)
	var out []string
	for _, o := range l.Items {
		if o.Value[rc.IDLabel] == id {
			out = append(out, o.Name)
		}
	}
	return out
}

// status reads the RC farm's record of id, nil when there is none.
func (e *fleetEnv) status(id string) *rc.Status {
	o, err := rc.NewStatusStore(e.cli).Get(e.ctx, status.ReplicationControllers, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

// eventually waits for the nodes running pod to be want, and the RC's
// status to say so with every pod healthy.
func (e *fleetEnv) eventually(id, pod string, want []string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		got := e.scheduled(pod)
		st := e.status(id)
		return fmt.Sprint(got) == fmt.Sprint(want) && st != nil && st.Current == len(want) && st.Healthy == len(want)
	}, waitFor, 20*time.Millisecond, "want %s on %v; have %v, status %+v", pod, want, e.scheduled(pod), e.status(id))
}

func newRC(id, pod, selector string, replicas int) *rc.RC {
	return &rc.RC{ID: id, Manifest: *testManifest(pod, 1), NodeSelector: selector,
		PodLabels: map[string]string{"app": pod}, ReplicasDesired: replicas}
}
