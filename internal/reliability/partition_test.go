package reliability_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleettest"
	"github.com/p2kit/p2kit/internal/controller"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// staleWrites cuts a controller off at its first audited write once armed:
// it pauses the controller's proxies (the write, and everything after it,
// waits in the proxy) and records what etcd answers to each write sent
// while cut off, once the proxies deliver it.
type staleWrites struct {
	ps etcdtest.Proxies

	mu       sync.Mutex
	armed    bool
	cut      bool
	isolated bool
	cutAt    chan struct{}
	release  chan struct{}
	pending  sync.WaitGroup
	answers  []staleAnswer
}

type staleAnswer struct {
	keys      []string
	cmps      []*pb.Compare
	succeeded bool
	err       error
}

func newStaleWrites(ps etcdtest.Proxies) *staleWrites {
	return &staleWrites{ps: ps, cutAt: make(chan struct{}), release: make(chan struct{})}
}

// isolate holds every request the controller sends from now on until
// reconnect: the partition goes on for new traffic while what was sent
// during the cut reaches etcd late.
func (s *staleWrites) isolate() {
	s.mu.Lock()
	s.isolated = true
	s.mu.Unlock()
}

// reconnect ends the isolation.
func (s *staleWrites) reconnect() { close(s.release) }

func (s *staleWrites) arm() {
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
}

// intercept is a gRPC client interceptor for the controller's etcd client.
func (s *staleWrites) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	s.mu.Lock()
	isolated := s.isolated
	s.mu.Unlock()
	if isolated {
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	txn, ok := req.(*pb.TxnRequest)
	if !ok || method != "/etcdserverpb.KV/Txn" {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	keys := auditedPuts(txn)
	s.mu.Lock()
	if s.armed && !s.cut && len(keys) > 0 {
		s.cut = true
		s.ps.Pause()
		close(s.cutAt)
	}
	cut := s.cut && !s.isolated
	if cut && len(keys) > 0 {
		s.pending.Add(1)
	}
	s.mu.Unlock()
	if !cut || len(keys) == 0 {
		// Not a farm write (a lock): judged by etcd's history below.
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	defer s.pending.Done()
	// The request is on the wire: whatever the controller does with its
	// context now, etcd receives it once the proxies deliver it.
	err := invoker(context.WithoutCancel(ctx), method, req, reply, cc, opts...)
	resp, _ := reply.(*pb.TxnResponse)
	s.mu.Lock()
	s.answers = append(s.answers, staleAnswer{keys: putKeys(txn), cmps: txn.Compare, succeeded: err == nil && resp.Succeeded, err: err})
	s.mu.Unlock()
	return err
}

// auditedPuts lists the audit keys a transaction writes when it succeeds:
// every controller change writes one.
func auditedPuts(txn *pb.TxnRequest) []string {
	var out []string
	for _, k := range putKeys(txn) {
		if strings.HasPrefix(k, "/p2/audit/") {
			out = append(out, k)
		}
	}
	return out
}

func putKeys(txn *pb.TxnRequest) []string {
	var out []string
	for _, op := range txn.Success {
		if put := op.GetRequestPut(); put != nil {
			out = append(out, string(put.Key))
		}
	}
	return out
}

// The controller that owns every farm is cut off from etcd in the middle of
// a roll, at the moment it sends a write, and its lease expires. Then etcd
// receives every write it sent while cut off, before anything else has
// changed, and refuses each one: its fence no longer holds. A second
// controller takes the farms over and completes the roll; when the first
// is back it changes nothing. etcd's history shows no pod scheduled twice,
// the minimum kept, and no change by the first controller once the second
// had made one.
func TestPartitionedControllerIsFencedOff(t *testing.T) {
	w := newWorld(t, 3)
	for _, n := range nodeNames("n", 6) {
		w.node(n, labels.Set{"env": "prod"}, nil, nil)
	}
	ps := w.etcd.Proxies(t)
	stale := newStaleWrites(ps)
	dialA := component.Etcd{Endpoints: strings.Join(ps.Endpoints(), ","), DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(stale.intercept)}}
	cliA, err := dialA.Dial(w.ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cliA.Close() })
	const actorA, actorB = "controller-a", "controller-b"
	controllerAs := func(c *clientv3.Client, actor string) func() {
		opts := fleettest.FarmOptions(t, farm.WithLogger(quiet(t).Named(actor)), farm.WithActor(actor), farm.WithIdentity(actor))
		return w.run(func(ctx context.Context) error { return controller.Run(ctx, c, nil, opts...) })
	}
	controllerAs(cliA, actorA)

	v1, v2 := version("hello", 1), version("hello", 2)
	_, err = w.rcs.Create(w.ctx, "alice", &rc.RC{ID: "hello-v1", Manifest: *v1, NodeSelector: "env=prod",
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
	require.Eventually(t, func() bool { return w.rcStatus("hello-v2") != nil }, waitFor, 10*time.Millisecond,
		"controller a took up hello-v2")
	stale.arm()
	_, err = w.rolls.Create(w.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: rollDesired, MinimumReplicas: rollMinimum, Deadline: roll.Duration(2 * time.Minute)})
	require.NoError(t, err)
	select {
	case <-stale.cutAt:
	case <-time.After(waitFor):
		t.Fatal("controller a never wrote during the roll")
	}
	cut := time.Now()
	t.Logf("controller a cut off at its first write of the roll")

	// a's lease expires: its locks go.
	require.Eventually(t, func() bool {
		resp, err := w.cli.Get(w.ctx, "/p2/locks/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	}, waitFor, 10*time.Millisecond, "controller a's locks expire with its lease")
	figure(t, "controller a's locks expired after the cut", time.Since(cut).Round(time.Millisecond))
	// What a sent while cut off reaches etcd now, before anyone else has
	// changed anything: only the fence stands in its way. Whatever a sends
	// from now on is held until the end.
	stale.isolate()
	ps.Unpause()
	stale.pending.Wait()
	figure(t, "writes of the cut-off controller delivered after its lease expired", len(stale.answers))
	require.NotEmpty(t, stale.answers)
	for _, a := range stale.answers {
		t.Logf("stale write of %v with compares %v", a.keys, a.cmps)
		require.NoError(t, a.err, "write of %v", a.keys)
		require.False(t, a.succeeded, "a write of the cut-off controller was applied: %v", a.keys)
	}

	// Controller b takes over and completes the roll.
	controllerAs(w.client(), actorB)
	var st *roll.Status
	require.Eventually(t, func() bool {
		st = w.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Done
	}, waitFor, 10*time.Millisecond, "controller b completes the roll; status %+v", st)
	figure(t, "roll completed by the second controller after the first was cut off", time.Since(cut).Round(time.Millisecond))

	stale.reconnect()
	healed := time.Now()
	// Controller a, back, finds every farm owned and changes nothing.
	require.Never(t, func() bool { return len(auditsBy(t, w, actorA, from)) > 0 && !auditsBefore(t, w, actorA, actorB, from) },
		time.Second, 50*time.Millisecond, "controller a changed something after controller b took over")
	t.Logf("healed %s ago", time.Since(healed).Round(time.Millisecond))

	require.Len(t, w.placed("hello"), rollDesired)
	checkRollHistory(t, w, from, w.revision())
	require.True(t, auditsBefore(t, w, actorA, actorB, from), "every change by controller a precedes controller b's first")
}

// auditsBy lists the revisions of the audit records by actor since from.
func auditsBy(t *testing.T, w *world, actor string, from int64) []int64 {
	t.Helper()
	var revs []int64
	for _, e := range w.history("/p2/audit/", from, w.revision()) {
		if e.Type != mvccpb.PUT {
			continue
		}
		var r audit.Record
		require.NoError(t, json.Unmarshal(e.Kv.Value, &r), "audit record %s", e.Kv.Key)
		if r.Actor == actor {
			revs = append(revs, e.Kv.ModRevision)
		}
	}
	return revs
}

// auditsBefore reports whether every change audited by first precedes the
// first change audited by second.
func auditsBefore(t *testing.T, w *world, first, second string, from int64) bool {
	a, b := auditsBy(t, w, first, from), auditsBy(t, w, second, from)
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	return a[len(a)-1] < b[0]
}
