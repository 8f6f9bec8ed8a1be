package preparer_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// BenchmarkHeapPerNode measures the live heap one preparer costs, the way
// examples/fleetsim runs them: 500 preparers in one process with the
// in-memory installer and launcher, no registry, sharing 4 etcd clients,
// each node running its own pod and one more. It reports the live heap
// (after a collection) per node once every node converged, and again once
// the whole of intent was deleted and every preparer holds; both less the
// heap before the preparers started (the embedded etcd with intent
// written). The etcd's own growth (reality, status records, leases) is
// part of the figure, and makes it vary by several KB from run to run; the
// preparers' own share (the live objects allocated under a preparer or
// failsafe frame, every allocation profiled) does not.
func BenchmarkHeapPerNode(b *testing.B) {
	const nodes, clients = 500, 4
	runtime.MemProfileRate = profileRate
	b.Cleanup(func() { runtime.MemProfileRate = 512 * 1024 })
	for range b.N {
		c := etcdtest.New(b)
		admin := c.Client(b)
		var clis []*clientv3.Client
		for range clients {
			clis = append(clis, c.Client(b))
		}
		ctx := context.Background()
		is := intent.NewStore(admin)
		for i := range nodes {
			node := fmt.Sprintf("node%04d", i)
			for _, pod := range []string{preparer.DefaultSelfPodID, "app"} {
				if _, err := is.Set(ctx, node, testManifest(pod, 1)); err != nil {
					b.Fatal(err)
				}
			}
		}
		h0, p0 := liveHeap()

		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, nodes)
		for i := range nodes {
			n := memory.NewNode()
			p, err := preparer.New(clis[i%clients], fmt.Sprintf("node%04d", i), n, n,
				preparer.WithLogger(zap.NewNop()), preparer.WithWorkers(1), preparer.WithHealthChecker(n),
				preparer.WithHealthInterval(time.Second), preparer.WithBackoff(200*time.Millisecond, 5*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			go func() { done <- p.Run(rctx) }()
		}
		waitKeys(b, admin, "/p2/reality/", 2*nodes)
		waitKeys(b, admin, "/p2/status/pods/", nodes) // the app pods: the self pod has none
		h1, p1 := liveHeap()

		if _, err := admin.Delete(ctx, "/p2/intent/", clientv3.WithPrefix()); err != nil {
			b.Fatal(err)
		}
		waitKeys(b, admin, "/p2/failsafe/holds/", nodes)
		h2, p2 := liveHeap()

		stop()
		for range nodes {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(h1-h0)/nodes, "converged-B/node")
		b.ReportMetric(float64(h2-h0)/nodes, "held-B/node")
		b.ReportMetric(float64(p1-p0)/nodes, "prep-converged-B/node")
		b.ReportMetric(float64(p2-p0)/nodes, "prep-held-B/node")
	}
}

// liveHeap is the heap in use after a full collection, and the part of it
// allocated under a frame of package preparer or failsafe, estimated from
// the heap profile as pprof does.
func liveHeap() (all, prep int64) {
	runtime.GC()
	runtime.GC() // the profile is as of the last collection but one
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var recs []runtime.MemProfileRecord
	for n, _ := runtime.MemProfile(nil, false); ; {
		recs = make([]runtime.MemProfileRecord, n+100)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if strings.HasPrefix(f.Function, "github.com/p2kit/p2kit/preparer.") ||
				strings.HasPrefix(f.Function, "github.com/p2kit/p2kit/failsafe.") {
				prep += unsampled(r.InUseBytes(), r.InUseObjects())
				break
			}
			if !more {
				break
			}
		}
	}
	return int64(ms.HeapAlloc), prep
}

// profileRate is the heap profile's sampling rate while the benchmark
// runs: one sample per 8 KB allocated, fine enough for a few hundred
// bytes a node over 500 nodes, and cheap enough not to slow the preparers
// into their timeouts (every allocation profiled does).
const profileRate = 8 << 10

// unsampled estimates the bytes behind a profile record of bytes in
// objects: an object of size s is sampled with probability
// 1-exp(-s/profileRate).
func unsampled(bytes, objects int64) int64 {
	if bytes == 0 || objects == 0 {
		return 0
	}
	size := float64(bytes) / float64(objects)
	return int64(float64(bytes) / (1 - math.Exp(-size/profileRate)))
}

// waitKeys polls until prefix holds n keys, for at most benchWait.
func waitKeys(b *testing.B, cli *clientv3.Client, prefix string, n int64) {
	b.Helper()
	var have int64
	require.Eventually(b, func() bool {
		resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(b, err)
		have = resp.Count
		return have == n
	}, benchWait, 50*time.Millisecond, "waited for %d keys under %s; %d there", n, prefix, have)
}
