package preparer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// BenchmarkConverge1000 times one preparer with the in-memory installer
// and launcher from 1,000 pods written to its intent to all 1,000 written
// to reality (each pod also gets its status record: 2,000 keys written by
// the preparer). The same run times 2,000 sequential puts of a plain
// client on the same etcd; the ratio is the preparer's overhead.
func BenchmarkConverge1000(b *testing.B) {
	const pods = 1000
	cli := etcdtest.New(b).Client(b)
	ctx := context.Background()
	is := intent.NewStore(cli)
	var converge, plain time.Duration
	for i := range b.N {
		node := fmt.Sprintf("bench%d", i)
		n := memory.NewNode()
		p, err := preparer.New(cli, node, n, n, preparer.WithLogger(zap.NewNop()),
			preparer.WithHealthChecker(n), preparer.WithHealthInterval(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := is.Set(ctx, node, testManifest(preparer.DefaultSelfPodID, 1)); err != nil {
			b.Fatal(err)
		}
		// Count reality creates with a raw watch from a revision read
		// before the preparer starts: a quick preparer's first writes
		// land before the watch is set up, and the watch still sees
		// them.
		prefix := "/p2/reality/" + node + "/"
		before, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			b.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		b.Cleanup(stop) // a failed wait still stops the preparer
		creates := &createCounter{prefix: prefix,
			wch: cli.Watch(rctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(before.Header.Revision+1))}
		done := make(chan error, 1)
		go func() { done <- p.Run(rctx) }()
		ms := make([]*manifest.Manifest, pods)
		for j := range ms {
			ms[j] = testManifest(fmt.Sprintf("pod%04d", j), 1)
		}
		creates.wait(b, 1) // the self pod: the preparer is running

		start := time.Now()
		var ops []clientv3.Op
		for _, m := range ms {
			op, err := is.SetOp(node, m)
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, op)
		}
		if _, err := kv.CommitChunked(ctx, cli, nil, ops); err != nil {
			b.Fatal(err)
		}
		creates.wait(b, 1+pods)
		converge += time.Since(start)
		stop()
		select {
		case err := <-done:
			if err != nil {
				b.Fatal(err)
			}
		case <-time.After(benchWait):
			b.Fatalf("preparer %s still running %s after it was stopped", node, benchWait)
		}

		value := strings.Repeat("x", 300)
		start = time.Now()
		for j := range 2 * pods {
			if _, err := cli.Put(ctx, fmt.Sprintf("/plain/%s/%d", node, j), value); err != nil {
				b.Fatal(err)
			}
		}
		plain += time.Since(start)
	}
	c := float64(converge.Milliseconds()) / float64(b.N)
	pl := float64(plain.Milliseconds()) / float64(b.N)
	b.ReportMetric(c, "converge-ms")
	b.ReportMetric(pl, "plain2000-ms")
	b.ReportMetric(c/pl, "ratio")
}

// benchWait bounds every wait of a benchmark: one that is never
// satisfied fails the run instead of hanging it.
const benchWait = 2 * time.Minute

// createCounter counts the creates a raw watch delivers under prefix.
type createCounter struct {
	prefix string
	wch    clientv3.WatchChan
	seen   int
}

// wait returns once n creates in all have been seen, and fails the
// benchmark if that takes longer than benchWait.
func (c *createCounter) wait(b *testing.B, n int) {
	b.Helper()
	deadline := time.NewTimer(benchWait)
	defer deadline.Stop()
	for c.seen < n {
		select {
		case resp, ok := <-c.wch:
			if !ok {
				b.Fatalf("watch of %s closed after %d of %d creates", c.prefix, c.seen, n)
			}
			if err := resp.Err(); err != nil {
				b.Fatalf("watch of %s after %d of %d creates: %v", c.prefix, c.seen, n, err)
			}
			for _, ev := range resp.Events {
				if ev.IsCreate() {
					c.seen++
				}
			}
		case <-deadline.C:
			b.Fatalf("waited %s for %d creates under %s; saw %d", benchWait, n, c.prefix, c.seen)
		}
	}
}
