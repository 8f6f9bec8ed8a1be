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
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(rctx) }()
		// Count reality creates with a raw watch started before the intent.
		wch := cli.Watch(rctx, "/p2/reality/"+node+"/", clientv3.WithPrefix())
		ms := make([]*manifest.Manifest, pods)
		for j := range ms {
			ms[j] = testManifest(fmt.Sprintf("pod%04d", j), 1)
		}
		waitCount(b, wch, 1) // the self pod: the preparer is running

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
		waitCount(b, wch, pods)
		converge += time.Since(start)
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
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

func waitCount(b *testing.B, wch clientv3.WatchChan, n int) {
	seen := 0
	for seen < n {
		resp, ok := <-wch
		if !ok {
			b.Fatal("watch closed")
		}
		for _, ev := range resp.Events {
			if ev.IsCreate() {
				seen++
			}
		}
	}
}
