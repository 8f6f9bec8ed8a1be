package preparer_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/status"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
)

// resyncs reads p2kit_preparer_intent_resyncs_total from reg.
func resyncs(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "p2kit_preparer_intent_resyncs_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("p2kit_preparer_intent_resyncs_total is not registered")
	return 0
}

// A preparer whose node record's lease is lost (here revoked, as it
// expires after a long partition) writes the record under a new lease and
// relists intent, once per lost lease. Network faults that lose intent
// events on a live watch are in internal/reliability
// (TestPreparerBlackholedLongerThanItsLeases/lose-events).
func TestLostNodeLeaseRelistsIntent(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	reg := prometheus.NewRegistry()
	e.self()
	e.setIntent(testManifest("hello", 1))
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithNodeTTL(time.Second), preparer.WithRegistry(reg))
	var lease clientv3.LeaseID
	require.Eventually(t, func() bool {
		var ok bool
		_, lease, ok = e.nodeRecord()
		_, running := n.Running("hello")
		return ok && running
	}, waitFor, 20*time.Millisecond)
	require.Zero(t, resyncs(t, reg), "no relist while the lease holds")

	_, err := e.cli.Revoke(e.ctx(), lease)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, l, ok := e.nodeRecord()
		return ok && l != lease && l != 0 && resyncs(t, reg) == 1
	}, waitFor, 20*time.Millisecond, "no relist after the lease was lost")

	// The relist changed nothing: the pod runs on, and a later change
	// still arrives through the watch.
	_, running := n.Running("hello")
	require.True(t, running)
	e.setIntent(testManifest("hello", 2))
	want := digest(t, testManifest("hello", 2))
	require.Eventually(t, func() bool { d, ok := n.Running("hello"); return ok && d == want }, waitFor, 20*time.Millisecond)
	require.Equal(t, float64(1), resyncs(t, reg))
}

// Renewals answered late are no cut-off: no renewal was answered within
// the lease's TTL, but etcd received the renewals and the lease lives. The
// preparer renews on until etcd answers, keeps the lease and its record,
// and relists nothing. (At 10,000 simulated nodes on a busy machine,
// taking late answers for lost leases made 26,498 new leases, record
// writes and intent relists in one phase, which slowed etcd further.)
func TestLateLeaseRenewalsAreNoCutOff(t *testing.T) {
	pn := newProxiedNode(t)
	e, n, cli := pn.e, pn.n, pn.e.cli
	e.setIntent(testManifest("hello", 1))
	reg := prometheus.NewRegistry()
	pn.run(preparer.WithHealthInterval(100*time.Millisecond), preparer.WithNodeTTL(3*time.Second), preparer.WithRegistry(reg))
	logs := pn.logs

	var lease clientv3.LeaseID
	require.Eventually(t, func() bool {
		var ok bool
		_, lease, ok = e.nodeRecord()
		_, running := n.Running("hello")
		return ok && running
	}, waitFor, 20*time.Millisecond)

	// Hold etcd's answers to the preparer's client and wait for that
	// client to give the lease up. The test renews the lease on a client
	// of its own meanwhile: it models renewals that reached etcd while the
	// answers were late, whatever the machine's load.
	kctx, stopRenewing := context.WithCancel(context.Background())
	t.Cleanup(stopRenewing)
	_, err := cli.KeepAlive(kctx, lease)
	require.NoError(t, err)
	resume := pn.holdAnswers()
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("renewals unanswered").Len() > 0 },
		waitFor, 20*time.Millisecond, "the renewals were never unanswered for the TTL")
	resume()

	require.Eventually(t, func() bool {
		return logs.FilterMessageSnippet("answered late").Len() > 0 ||
			logs.FilterMessageSnippet("lease lost").Len() > 0
	}, waitFor, 20*time.Millisecond)
	require.Zero(t, logs.FilterMessageSnippet("lease lost").Len(), "late answers taken for a lost lease")
	_, l, ok := e.nodeRecord()
	require.True(t, ok)
	require.Equal(t, lease, l, "the record stays under its lease")
	require.Zero(t, resyncs(t, reg), "no relist: the preparer was never cut off")

	// The preparer renews the lease itself again: it outlives two TTLs
	// once the test stops renewing it (renewed every second, it has at
	// least a second left unless a renewal is two seconds late).
	stopRenewing()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); <-tick.C {
		ttl, err := cli.TimeToLive(e.ctx(), lease)
		require.NoError(t, err)
		require.Positive(t, ttl.TTL, "the preparer stopped renewing its lease")
	}
	require.Zero(t, logs.FilterMessageSnippet("lease lost").Len())
}

// A renewal etcd does not answer is not sent again sooner than the next
// one is due: a lease is renewed at most once per third of its TTL,
// answered or not. The etcd client's keep-alive sends one every half
// second while none is answered: when a busy etcd answers late, every
// lease of the fleet asks it ten times as often (1.58 million renewals in
// a 107 s phase at 30,000 simulated nodes, against 6,000 a second when
// etcd keeps up).
func TestUnansweredRenewalsAreNotSentMoreOften(t *testing.T) {
	const ttl = 6 * time.Second
	pn := newProxiedNode(t)
	e := pn.e
	pn.run(preparer.WithNodeTTL(ttl))
	lease := e.waitNodeLease()
	// Renewed by another client meanwhile, the lease lives whatever the
	// preparer's client does.
	kctx, stopRenewing := context.WithCancel(context.Background())
	t.Cleanup(stopRenewing)
	_, err := e.cli.KeepAlive(kctx, lease)
	require.NoError(t, err)

	resume := pn.holdAnswers()
	start, before := time.Now(), pn.renewals.Load()
	require.Eventually(t, func() bool { return time.Since(start) >= ttl*2/3 }, waitFor, 20*time.Millisecond)
	sent, elapsed := pn.renewals.Load()-before, time.Since(start)
	resume()
	// One renewal per third of the TTL, and one more for a renewal due
	// as the window opened.
	most := int64(elapsed/(ttl/3)) + 1
	t.Logf("%d renewals sent in %s with no answer", sent, elapsed)
	require.LessOrEqual(t, sent, most, "unanswered renewals sent again sooner than a third of the TTL")
}

// waitNodeLease waits for the node record and returns its lease.
func (e *env) waitNodeLease() clientv3.LeaseID {
	e.t.Helper()
	var lease clientv3.LeaseID
	require.Eventually(e.t, func() bool {
		var ok bool
		_, lease, ok = e.nodeRecord()
		return ok
	}, waitFor, 20*time.Millisecond, "node record")
	return lease
}

// A grant whose answer was lost leaves no lease behind: etcd applied it
// while its answer was held past the grant's deadline, and the retry asks
// for the same lease id, finds that lease and uses it. Each timed-out
// grant used to leave a lease of its own, revoked through raft when its
// TTL ended (30,143 leases for 20,000 simulated nodes started at once).
func TestTimedOutGrantLeavesNoLease(t *testing.T) {
	pn := newProxiedNode(t)
	e, cli := pn.e, pn.e.cli
	resume := pn.holdAnswers()
	pn.run(preparer.WithNodeTTL(5*time.Second), preparer.WithBackoff(100*time.Millisecond, time.Second))
	logs := pn.logs

	require.Eventually(t, func() bool {
		return logs.FilterMessageSnippet("node record not written").FilterFieldKey("error").Len() > 0
	}, waitFor, 20*time.Millisecond, "the first grant never timed out")
	leases, err := cli.Leases(e.ctx())
	require.NoError(t, err)
	require.Len(t, leases.Leases, 1, "etcd applied the grant whose answer is held")
	resume()

	lease := e.waitNodeLease()
	leases, err = cli.Leases(e.ctx())
	require.NoError(t, err)
	require.Len(t, leases.Leases, 1, "a lease was left behind by the grant that timed out")
	require.Equal(t, lease, leases.Leases[0].ID, "the record is under the lease the first grant made")
}

// A node record write that etcd timed out is written again under the same
// lease: no revocation and no new grant, each a raft entry on an etcd that
// is behind already (at 10,000 preparers started at once, 2,058
// revocations, 2,518 grants more than nodes and 8,317 lease lookups).
func TestFailedRecordWriteKeepsItsLease(t *testing.T) {
	pn := newProxiedNode(t)
	key, err := status.NewNodeStore(pn.cli).Key(pn.e.node)
	require.NoError(t, err)
	pn.failKey = key
	pn.failPuts.Store(3)
	pn.run(preparer.WithBackoff(50*time.Millisecond, 200*time.Millisecond))

	lease := pn.e.waitNodeLease()
	require.LessOrEqual(t, pn.failPuts.Load(), int64(0), "the failing puts were not all tried")
	require.Equal(t, int64(1), pn.grants.Load(), "grants")
	require.Zero(t, pn.revokes.Load(), "revocations")
	require.Equal(t, 1, pn.logs.FilterMessageSnippet("trying again under the same lease").Len())
	ttl, err := pn.e.cli.TimeToLive(pn.e.ctx(), lease)
	require.NoError(t, err)
	require.Positive(t, ttl.TTL)
}

// proxiedNode is a preparer whose client reaches etcd through a proxy, so
// that a test can hold etcd's answers; e reads and writes etcd directly.
type proxiedNode struct {
	e    *env
	px   *etcdtest.Proxy
	cli  *clientv3.Client // the preparer's, through px
	n    *memory.Node
	logs *observer.ObservedLogs // set by run

	renewals atomic.Int64 // lease renewals sent by cli
	grants   atomic.Int64 // lease grants sent by cli
	revokes  atomic.Int64 // lease revocations sent by cli
	// failPuts: how many more puts of failKey to fail at the client, as
	// if etcd had timed them out.
	failPuts atomic.Int64
	failKey  string
}

func newProxiedNode(t *testing.T) *proxiedNode {
	c := etcdtest.New(t)
	px := c.Members[0].Proxy(t)
	cli := c.Client(t)
	e := &env{t: t, cli: cli, node: "web1", intent: intent.NewStore(cli), reality: reality.NewStore(cli), statuses: status.NewPodStatusStore(cli)}
	e.self()
	pn := &proxiedNode{e: e, px: px, n: memory.NewNode()}
	pcli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{px.Endpoint()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainStreamInterceptor(pn.countRenewals), grpc.WithChainUnaryInterceptor(pn.unary)},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pcli.Close() })
	_, err = pcli.Get(e.ctx(), "/") // connected before any answer is held
	require.NoError(t, err)
	pn.cli = pcli
	return pn
}

// unary counts the preparer's lease grants and revocations, and fails the
// puts of failKey it is told to.
func (pn *proxiedNode) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	switch r := req.(type) {
	case *etcdserverpb.LeaseGrantRequest:
		pn.grants.Add(1)
	case *etcdserverpb.LeaseRevokeRequest:
		pn.revokes.Add(1)
	case *etcdserverpb.PutRequest:
		if string(r.Key) == pn.failKey && pn.failPuts.Add(-1) >= 0 {
			return rpctypes.ErrGRPCTimeout
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// countRenewals counts the lease renewals the preparer's client sends.
func (pn *proxiedNode) countRenewals(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &renewalCounter{ClientStream: s, n: &pn.renewals}, nil
}

type renewalCounter struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (s *renewalCounter) SendMsg(m any) error {
	if _, ok := m.(*etcdserverpb.LeaseKeepAliveRequest); ok {
		s.n.Add(1)
	}
	return s.ClientStream.SendMsg(m)
}

// run starts the preparer until the test ends, logging to pn.logs.
func (pn *proxiedNode) run(opts ...preparer.Option) {
	core, logs := observer.New(zapcore.InfoLevel)
	pn.logs = logs
	opts = append([]preparer.Option{preparer.WithLogger(zap.New(core)), preparer.WithHealthChecker(pn.n)}, opts...)
	p, err := preparer.New(pn.cli, pn.e.node, pn.n, pn.n, opts...)
	require.NoError(pn.e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	pn.e.t.Cleanup(func() { cancel(); <-done })
}

// holdAnswers holds etcd's answers to the preparer's client until resume
// is called (or the test ends); its requests still reach etcd.
func (pn *proxiedNode) holdAnswers() (resume func()) {
	pn.px.Server().PauseRx()
	var once sync.Once
	resume = func() { once.Do(pn.px.Server().UnpauseRx) }
	pn.e.t.Cleanup(resume)
	return resume
}
