package kv_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
)

// countingClient connects a client to endpoints that counts the gRPC watch
// streams it opens.
func countingClient(t *testing.T, streams *atomic.Int64, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainStreamInterceptor(
			func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				if method == "/etcdserverpb.Watch/Watch" {
					streams.Add(1)
				}
				return streamer(ctx, desc, cc, method, opts...)
			})},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestWatchesShareStreams: the watches of one client share its gRPC watch
// streams, 64 to a stream, rather than opening one each (a stream costs
// about 24 KB between the client and etcd). Every watch still gets its own
// events.
func TestWatchesShareStreams(t *testing.T) {
	c := etcdtest.New(t)
	var streams atomic.Int64
	cli := countingClient(t, &streams, c.Endpoints()...)
	ctx := testCtx(t)
	const n = 200
	type got struct {
		i   int
		b   *kv.Batch[item]
		err error
	}
	results := make(chan got, n)
	for i := range n {
		w := kv.New[item](cli, fmt.Sprintf("/t/share/%03d", i)).Watch(ctx)
		require.Equal(t, kv.Initial, next[item](t, w).Kind)
		go func() {
			b, err := w.Next(ctx) // opens the watch, then waits for the event
			results <- got{i, b, err}
		}()
	}
	writer := c.Client(t)
	for i := range n {
		_, err := writer.Put(ctx, fmt.Sprintf("/t/share/%03d/k", i), fmt.Sprintf(`{"n":%d}`, i))
		require.NoError(t, err)
	}
	for range n {
		r := <-results
		require.NoError(t, r.err)
		require.Len(t, r.b.Events, 1)
		require.Equal(t, "k", r.b.Events[0].Name)
		require.Equal(t, r.i, r.b.Events[0].New.Value.N, "watch %d got another prefix's event", r.i)
	}
	t.Logf("%d watches on %d gRPC watch streams", n, streams.Load())
	require.LessOrEqual(t, streams.Load(), int64((n+63)/64), "watches of one client share its streams")
}

// TestStalledSharedStreamRestartsEveryWatch: several watches share a
// stream that goes silent; one probe, then every watch on it moves to a new
// stream and catches up. A restart that does not help doubles the stall
// timeout of the watch, up to eight times its base.
func TestStalledSharedStreamRestartsEveryWatch(t *testing.T) {
	c := etcdtest.New(t)
	m := c.Members[0]
	silent, other := m.Proxy(t), m.Proxy(t)
	cli := c.ClientFor(t, silent.Endpoint())
	ctx := testCtx(t)
	writer := c.Client(t)
	const timeout = 200 * time.Millisecond
	var ws []*kv.Watcher[item]
	for i := range 3 {
		w := kv.New[item](cli, fmt.Sprintf("/t/stalls/%d", i)).Watch(ctx, kv.StallTimeout(timeout))
		require.Equal(t, kv.Initial, next[item](t, w).Kind)
		ws = append(ws, w)
	}
	silent.Pause()
	cli.SetEndpoints(other.Endpoint())
	for i := range ws {
		_, err := writer.Put(ctx, fmt.Sprintf("/t/stalls/%d/k", i), `{"n":1}`)
		require.NoError(t, err)
	}
	for i, w := range ws {
		wctx, cancel := context.WithTimeout(ctx, 8*timeout+5*time.Second)
		b, err := w.Next(wctx)
		cancel()
		require.NoError(t, err, "watch %d never caught up after its shared stream went silent", i)
		require.Equal(t, kv.Live, b.Kind)
		require.Equal(t, "k", b.Events[0].Name)
	}
}

// observedWatch watches prefix with the stall timeout given, reads its
// initial listing and then calls Next in the background until the test
// ends; the returned logs hold the watch's warnings.
func observedWatch(t *testing.T, cli *clientv3.Client, prefix string, timeout time.Duration) *observer.ObservedLogs {
	t.Helper()
	ctx := testCtx(t)
	core, logs := observer.New(zapcore.WarnLevel)
	w := kv.New[item](cli, prefix, kv.WithLogger[item](zap.New(core))).Watch(ctx, kv.StallTimeout(timeout))
	require.Equal(t, kv.Initial, next[item](t, w).Kind)
	go func() { _, _ = w.Next(ctx) }()
	t.Cleanup(w.Close)
	return logs
}

// mutedStream hears nothing once mute is set: what etcd sends on it is
// lost, as on a connection that lost frames of one stream, while the
// client's other requests are answered.
type mutedStream struct {
	grpc.ClientStream
	mute *atomic.Bool
}

func (m mutedStream) RecvMsg(msg any) error {
	if m.mute.Load() {
		<-m.Context().Done()
		return m.Context().Err()
	}
	err := m.ClientStream.RecvMsg(msg)
	if err == nil && m.mute.Load() {
		<-m.Context().Done()
		return m.Context().Err()
	}
	return err
}

// wrappedWatchClient is a client of c whose gRPC watch streams are
// wrapped by wrap; its unary requests go through as they are.
func wrappedWatchClient(t *testing.T, c *etcdtest.Cluster, wrap func(grpc.ClientStream) grpc.ClientStream) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainStreamInterceptor(
			func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				cs, err := streamer(ctx, desc, cc, method, opts...)
				if err != nil || method != "/etcdserverpb.Watch/Watch" {
					return cs, err
				}
				return wrap(cs), nil
			})},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// mutingClient is a client of c whose watch streams go deaf once the
// returned Bool is set; its unary requests are answered all along.
func mutingClient(t *testing.T, c *etcdtest.Cluster) (*clientv3.Client, *atomic.Bool) {
	t.Helper()
	mute := &atomic.Bool{}
	cli := wrappedWatchClient(t, c, func(cs grpc.ClientStream) grpc.ClientStream {
		return mutedStream{ClientStream: cs, mute: mute}
	})
	return cli, mute
}

// TestStallTimeoutBacksOff: while etcd answers reads but no watch stream
// hears anything, each stall soon after the last doubles the watch's
// stall timeout, up to eight times the base, so that etcd is not sent a
// new stream and a new watch creation every timeout.
func TestStallTimeoutBacksOff(t *testing.T) {
	c := etcdtest.New(t)
	cli, mute := mutingClient(t, c)
	const timeout = 50 * time.Millisecond
	logs := observedWatch(t, cli, "/t/backoff", timeout)
	mute.Store(true)

	var got []time.Duration
	require.Eventually(t, func() bool {
		got = got[:0]
		for _, e := range logs.FilterMessageSnippet("restarting it").All() {
			d, _ := e.ContextMap()["next_stall_timeout"].(time.Duration)
			got = append(got, d)
		}
		return len(got) >= 5
	}, 30*time.Second, 10*time.Millisecond)
	want := []time.Duration{timeout, 2 * timeout, 4 * timeout, 8 * timeout, 8 * timeout}
	require.Equal(t, want, got[:5], "each stall soon after the last doubles the timeout, up to 8x")
}

// TestSilentStreamOfAnUnansweringEtcdIsNotRestarted: when etcd answers no
// read either (overloaded, or out of reach), a silent stream is probed
// again, not restarted: a new stream would be no better off, and the
// restarts of a whole fleet's watches only add to an overloaded etcd's
// load. Once etcd answers again, the watch goes on on the same stream.
func TestSilentStreamOfAnUnansweringEtcdIsNotRestarted(t *testing.T) {
	c := etcdtest.New(t)
	p := c.Members[0].Proxy(t)
	cli := c.ClientFor(t, p.Endpoint())
	writer := c.Client(t)
	ctx := testCtx(t)
	core, logs := observer.New(zapcore.WarnLevel)
	const timeout = 50 * time.Millisecond
	w := kv.New[item](cli, "/t/unanswering", kv.WithLogger[item](zap.New(core))).Watch(ctx, kv.StallTimeout(timeout))
	require.Equal(t, kv.Initial, next[item](t, w).Kind)
	p.Pause()
	t.Cleanup(p.Unpause)
	got := make(chan *kv.Batch[item], 1)
	go func() {
		b, _ := w.Next(ctx)
		got <- b
	}()
	t.Cleanup(w.Close)
	require.Never(t, func() bool { return logs.Len() > 0 }, 20*timeout, 10*time.Millisecond,
		"a silent stream was restarted while etcd answered nothing")

	p.Unpause()
	_, err := writer.Put(ctx, "/t/unanswering/k", `{"n":1}`)
	require.NoError(t, err)
	select {
	case b := <-got:
		require.NotNil(t, b)
		require.Equal(t, "k", b.Events[0].Name)
	case <-time.After(30 * time.Second):
		t.Fatal("the watch did not go on once etcd answered again")
	}
}

// TestQuietWatchStreamIsNotRestarted: on an etcd nobody writes to, a
// watch's stream is probed when silent, and the probe is answered: etcd
// drops a progress request while a watch on the stream starts beyond its
// current revision, so the watch starts from the last revision it applied
// (not the one after). Before, every quiet stream was restarted each stall
// timeout (backing off to eight times it). The start revision's own events,
// applied already, are dropped quietly.
func TestQuietWatchStreamIsNotRestarted(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	_, err := cli.Put(testCtx(t), "/t/quiet/a", `{"n":1}`)
	require.NoError(t, err)
	const timeout = 300 * time.Millisecond
	logs := observedWatch(t, cli, "/t/quiet", timeout)
	require.Never(t, func() bool { return logs.Len() > 0 }, 10*timeout, 20*time.Millisecond,
		"a quiet stream was taken for a stalled one (or the start revision's event was refused as applied)")
}

// droppingStream loses the first progress request sent on it, as etcd
// does with one made while a watch on the stream is still catching up.
type droppingStream struct {
	grpc.ClientStream
	dropped *atomic.Int64
	sent    *atomic.Int64
}

func (d droppingStream) SendMsg(m any) error {
	if r, ok := m.(*pb.WatchRequest); ok && r.GetProgressRequest() != nil {
		if d.dropped.CompareAndSwap(0, 1) {
			return nil
		}
		d.sent.Add(1)
	}
	return d.ClientStream.SendMsg(m)
}

// TestUnansweredProgressRequestIsSentAgain: a progress request that etcd
// drops (it does while any watch on the stream is unsynced) is sent again
// within the stall timeout, and the answer to the second keeps the stream:
// no restart.
func TestUnansweredProgressRequestIsSentAgain(t *testing.T) {
	c := etcdtest.New(t)
	var dropped, sent atomic.Int64
	cli := wrappedWatchClient(t, c, func(cs grpc.ClientStream) grpc.ClientStream {
		return droppingStream{ClientStream: cs, dropped: &dropped, sent: &sent}
	})
	const timeout = 400 * time.Millisecond
	logs := observedWatch(t, cli, "/t/reprobe", timeout)
	require.Eventually(t, func() bool { return sent.Load() > 0 }, 30*time.Second, 10*time.Millisecond,
		"the dropped progress request was never sent again")
	require.Never(t, func() bool { return logs.Len() > 0 }, 4*timeout, 20*time.Millisecond,
		"the stream was restarted although the second progress request was answered")
	require.Equal(t, int64(1), dropped.Load())
}

// TestWatchesCostNoGoroutineEach: an open watch costs no goroutine; a
// stream of up to 64 watches costs one, which receives its responses and
// queues them for their watches. The etcd client's Watch ran a goroutine
// for each watch: in a process simulating a fleet, one per node.
func TestWatchesCostNoGoroutineEach(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx := testCtx(t)
	const n = 256 // four streams
	ws := make([]*kv.Watcher[item], n)
	for i := range ws {
		ws[i] = kv.New[item](cli, fmt.Sprintf("/t/cost/%03d", i)).Watch(ctx)
		t.Cleanup(ws[i].Close)
		require.Equal(t, kv.Initial, next[item](t, ws[i]).Kind)
	}
	require.NoError(t, kv.StartWatch(ws[0])) // the client's first stream is up
	before := runtime.NumGoroutine()
	for _, w := range ws[1:] {
		require.NoError(t, kv.StartWatch(w))
	}
	added := runtime.NumGoroutine() - before
	t.Logf("%d watches added %d goroutines", n-1, added)
	// Three more streams: a receiving goroutine each, and gRPC's and
	// etcd's own per stream.
	require.Less(t, added, n/8, "goroutines added by %d watches", n-1)

	// The watches work: each gets its own prefix's event.
	writer := c.Client(t)
	for i := range n {
		_, err := writer.Put(ctx, fmt.Sprintf("/t/cost/%03d/k", i), fmt.Sprintf(`{"n":%d}`, i))
		require.NoError(t, err)
	}
	for i, w := range ws {
		b := next[item](t, w)
		require.Equal(t, kv.Live, b.Kind)
		require.Equal(t, i, b.Events[0].New.Value.N)
	}
}

// gate holds whoever waits at it while it is shut.
type gate struct {
	mu sync.Mutex
	ch chan struct{} // nil while open
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}

func (g *gate) wait(ctx context.Context) {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// heldStream holds each message it receives while its gate is shut, until
// it opens: what etcd sends meanwhile arrives late, in order.
type heldStream struct {
	grpc.ClientStream
	gate *gate
}

func (h heldStream) RecvMsg(msg any) error {
	err := h.ClientStream.RecvMsg(msg)
	h.gate.wait(h.Context())
	return err
}

// TestProgressBeforeAWatchWasCreatedIsNotItsOwn: etcd answers a progress
// request with one notification for the whole stream, for the watches it
// had then. A watch created on the stream after the request was sent, from
// an older revision, must not take that answer for how far it has read:
// its catch-up events come after it, and it would refuse them as already
// applied (at 10,000 simulated nodes, 437 preparers missed a mass deletion
// so).
func TestProgressBeforeAWatchWasCreatedIsNotItsOwn(t *testing.T) {
	c := etcdtest.New(t)
	g := &gate{}
	cli := wrappedWatchClient(t, c, func(cs grpc.ClientStream) grpc.ClientStream {
		return heldStream{ClientStream: cs, gate: g}
	})
	ctx := testCtx(t)
	writer := c.Client(t)
	require.Eventually(t, func() bool { return kv.ProgressOrdered(cli) }, 10*time.Second, 10*time.Millisecond,
		"the server's version is known to order progress notifications")

	a := kv.New[item](cli, "/t/early/a").Watch(ctx)
	require.Equal(t, kv.Initial, next[item](t, a).Kind)
	require.NoError(t, kv.StartWatch(a))
	_, err := writer.Put(ctx, "/t/early/a/k", `{"n":1}`)
	require.NoError(t, err)
	require.Equal(t, kv.Live, next[item](t, a).Kind, "a's watch is up")

	b := kv.New[item](cli, "/t/early/b").Watch(ctx)
	require.Equal(t, kv.Initial, next[item](t, b).Kind)
	_, err = writer.Put(ctx, "/t/early/b/k", `{"n":2}`) // after b's listing
	require.NoError(t, err)

	g.shut()
	require.NoError(t, a.RequestProgress(ctx)) // answered for a alone
	require.NoError(t, kv.StartWatch(b))       // created after the request
	g.open()

	got := next[item](t, b)
	require.Equal(t, kv.Live, got.Kind)
	require.Len(t, got.Events, 1)
	require.Equal(t, 2, got.Events[0].New.Value.N)
}

// TestClosedWatcherGivesItsWatchBack: a watcher closed between calls to
// Next, with no Next to come, gives its watch back at once (its stream
// closes with it), rather than having etcd send it events that are queued
// for nobody.
func TestClosedWatcherGivesItsWatchBack(t *testing.T) {
	c := etcdtest.New(t)
	var streams atomic.Int64
	cli := countingClient(t, &streams, c.Endpoints()...)
	ctx := testCtx(t)
	w := kv.New[item](cli, "/t/closed").Watch(ctx)
	require.Equal(t, kv.Initial, next[item](t, w).Kind)
	require.NoError(t, kv.StartWatch(w))
	require.Equal(t, 1, kv.StreamMembers(cli))
	w.Close()
	require.Eventually(t, func() bool { return kv.StreamMembers(cli) == 0 }, 10*time.Second, 10*time.Millisecond,
		"the closed watcher's watch still counts on its stream")
	_, err := w.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 0, kv.StreamMembers(cli))
}
