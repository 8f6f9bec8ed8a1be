package reliability_test

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/internal/framedrop"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// nodeTTL is the preparer's node record lease in the network fault tests:
// the shortest the preparer accepts.
const nodeTTL = time.Second

// dial connects to endpoints the way the reference binaries do.
func (w *world) dial(endpoints []string) *clientv3.Client {
	w.t.Helper()
	e := component.Etcd{Endpoints: strings.Join(endpoints, ","), DialTimeout: 5 * time.Second}
	c, err := e.Dial(w.ctx, nil)
	require.NoError(w.t, err)
	w.t.Cleanup(func() { _ = c.Close() })
	return c
}

// proxiedNode runs a preparer on a memory node whose etcd client reaches
// every member through the proxies at endpoints only, with a node record
// lease of ttl and an intent watch stall timeout of stall.
func (w *world) proxiedNode(name string, endpoints []string, ttl, stall time.Duration) *memory.Node {
	w.t.Helper()
	_, err := w.labels.Put(w.ctx, labels.Node, name, labels.Set{"env": "prod"})
	require.NoError(w.t, err)
	_, err = w.intent.Set(w.ctx, name, version(preparer.DefaultSelfPodID, 1))
	require.NoError(w.t, err)
	n := memory.NewNode()
	p, err := preparer.New(w.dial(endpoints), name, n, n, preparer.WithHealthChecker(n),
		preparer.WithHealthInterval(50*time.Millisecond), preparer.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
		preparer.WithNodeTTL(ttl), preparer.WithWatchStallTimeout(stall), preparer.WithLogger(quiet(w.t).Named(name)))
	require.NoError(w.t, err)
	w.mu.Lock()
	w.nodes[name] = n
	w.mu.Unlock()
	w.run(p.Run)
	return n
}

// nodeRecord reports whether the node's preparer record exists.
func (w *world) nodeRecord(node string) bool {
	_, err := status.NewNodeStore(w.cli).Get(w.ctx, node)
	if err != nil && !errorsIs(err, kv.ErrNotFound) {
		require.NoError(w.t, err)
	}
	return err == nil
}

// A preparer cut off from every etcd member for five times its node
// record's lease keeps every app running and uninstalls nothing; when the
// network comes back it converges to the intent written meanwhile. The cut
// is made three ways:
//
//   - blackhole: the proxy's blackhole drops every byte sent either way on
//     the open connections. TCP never does that: streams are left damaged,
//     and one can stay up having lost the intent events sent during the cut
//     (about one run in four without the relist below);
//   - lose-events: a framedrop proxy holds what the preparer sends and
//     delivers it late, and drops what etcd sends during the cut in whole
//     HTTP/2 frames, so the connections stay sound and the intent watch's
//     stream stays up having lost the intent events, every time. The watch's
//     stall timeout is longer than the cut, so no restart of the stream
//     replays them; etcd's progress notifications then carry it past them;
//   - pause: everything is held and delivered late, in order, as TCP does
//     across a partition that heals before the connection times out.
//
// A watch stream cannot tell it lost events; the preparer can tell it was
// cut off, because its node record's lease was lost, and then relists
// intent (kv.Watcher.Resync). Without that relist the lose-events case
// never converges.
func TestPreparerBlackholedLongerThanItsLeases(t *testing.T) {
	t.Run("blackhole", func(t *testing.T) {
		cutOff(t, nodeTTL, func(w *world) fault {
			ps := w.etcd.Proxies(t)
			return fault{ps.Endpoints(), ps.Blackhole, ps.Unblackhole}
		})
	})
	t.Run("lose-events", func(t *testing.T) {
		cutOff(t, kv.DefaultStallTimeout, func(w *world) fault { return loseWhatEtcdSends(w, "/p2/intent/n1/c") })
	})
	t.Run("pause", func(t *testing.T) {
		cutOff(t, nodeTTL, func(w *world) fault {
			ps := w.etcd.Proxies(t)
			return fault{ps.Endpoints(), ps.Pause, ps.Unpause}
		})
	})
}

// fault is a way to cut a preparer off: the endpoints its client is given,
// the cut, and its healing.
type fault struct {
	endpoints []string
	cut, heal func()
}

// loseWhatEtcdSends puts a framedrop proxy in front of every member: the
// cut holds what the clients send until heal, and drops what etcd sends
// meanwhile in whole HTTP/2 frames; heal checks that a frame naming
// lostKey was among those dropped.
func loseWhatEtcdSends(w *world, lostKey string) fault {
	t := w.t
	var f fault
	var ps []*framedrop.Proxy
	for _, m := range w.etcd.Members {
		p, err := framedrop.Listen(m.ClientURL.Host)
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		ps = append(ps, p)
		f.endpoints = append(f.endpoints, "http://"+p.Addr())
	}
	f.cut = func() {
		for _, p := range ps {
			p.Cut()
		}
	}
	f.heal = func() {
		lost := false
		for _, p := range ps {
			p.Heal()
			lost = lost || bytes.Contains(p.Dropped(), []byte(lostKey))
		}
		require.True(t, lost, "no event of %s was dropped: the cut proves nothing", lostKey)
	}
	return f
}

// cutOff runs a preparer whose intent watch has the given stall timeout
// behind a fault's proxies, cuts it off for five node record leases while
// intent changes, heals the cut and checks the outcome.
func cutOff(t *testing.T, stall time.Duration, mk func(*world) fault) {
	w := newWorld(t, 3)
	f := mk(w)
	n := w.proxiedNode("n1", f.endpoints, nodeTTL, stall)
	a1, b1, a2, c1 := version("a", 1), version("b", 1), version("a", 2), version("c", 1)
	_, err := w.intent.Set(w.ctx, "n1", a1)
	require.NoError(t, err)
	_, err = w.intent.Set(w.ctx, "n1", b1)
	require.NoError(t, err)
	before := map[string]string{"a": digest(t, a1), "b": digest(t, b1)}
	require.Eventually(t, func() bool { return runs(n, before) && w.nodeRecord("n1") }, waitFor, 10*time.Millisecond)
	pidA, pidB := n.PID("a"), n.PID("b")
	from := w.revision()

	f.cut()
	cutAt := time.Now()
	t.Logf("cut off the preparer's proxies %s", f.endpoints)
	// The node record's lease runs out: the preparer is cut off for real.
	require.Eventually(t, func() bool { return !w.nodeRecord("n1") }, waitFor, 10*time.Millisecond,
		"the node record expires with its lease")
	// Intent changes meanwhile: an upgrade, a new pod, a removal.
	_, err = w.intent.Set(w.ctx, "n1", a2)
	require.NoError(t, err)
	_, err = w.intent.Set(w.ctx, "n1", c1)
	require.NoError(t, err)
	require.NoError(t, w.intent.Delete(w.ctx, "n1", "b"))
	// Stay cut off for five leases in all; nothing on the node changes.
	require.Never(t, func() bool {
		return !runs(n, before) || n.PID("a") != pidA || n.PID("b") != pidB || n.Removes() != 0
	}, 5*nodeTTL-time.Since(cutAt), 20*time.Millisecond, "an app stopped or was uninstalled while cut off")
	f.heal()
	healed := time.Now()
	figure(t, "preparer cut off (node record lease 1s)", healed.Sub(cutAt).Round(time.Millisecond))

	after := map[string]string{"a": digest(t, a2), "c": digest(t, c1)}
	require.Eventually(t, func() bool { return runs(n, after) && w.nodeRecord("n1") }, waitFor, 10*time.Millisecond,
		"the preparer converges after the blackhole; runs %s", describe(n))
	figure(t, "preparer converged after the network came back", time.Since(healed).Round(time.Millisecond))
	require.Equal(t, int64(1), n.Removes(), "only b is uninstalled")
	// Reality is written just after a pod is launched or removed.
	for deadline := time.Now().Add(waitFor); ; time.Sleep(10 * time.Millisecond) {
		l, err := w.reality(t, "n1")
		require.NoError(t, err)
		if maps.Equal(after, l) || time.Now().After(deadline) {
			require.Equal(t, after, l, "reality matches what runs")
			break
		}
	}
	for _, e := range w.history("/p2/failsafe/holds/", from, w.revision()) {
		t.Errorf("failsafe hold recorded: %s", e.Kv.Key)
	}
}

// reality reads a node's reality as pod -> digest, the preparer's own pod
// left out.
func (w *world) reality(t *testing.T, node string) (map[string]string, error) {
	l, err := newRealityStore(w.cli).List(w.ctx, node)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, o := range l.Items {
		if o.Value.ID != preparer.DefaultSelfPodID {
			out[o.Value.ID] = digest(t, &o.Value)
		}
	}
	return out, nil
}

func newRealityStore(c *clientv3.Client) *reality.Store { return reality.NewStore(c) }

// describe lists what a memory node runs, as "pod:digest-prefix".
func describe(n *memory.Node) string {
	pods, _ := n.Pods()
	var out []string
	for _, p := range pods {
		d, ok := n.Running(p)
		if len(d) > 8 {
			d = d[:8]
		}
		out = append(out, fmt.Sprintf("%s:%s:%t", p, d, ok))
	}
	return strings.Join(out, ",")
}
