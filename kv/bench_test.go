package kv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// benchWait bounds every wait of a benchmark: one that is never
	// satisfied fails the run instead of hanging it.
	benchWait = 2 * time.Minute

	benchEvents = 10_000
	benchKeys   = 1_000
	benchPerTxn = 100
)

// benchManifest returns a manifest whose JSON is about 1 KiB.
func benchManifest(i int) *manifest.Manifest {
	env := map[string]string{}
	for j := range 12 {
		env[fmt.Sprintf("VAR_%02d", j)] = strings.Repeat("v", 40)
	}
	return &manifest.Manifest{
		ID: fmt.Sprintf("pod%04d", i%benchKeys),
		Launchables: map[string]manifest.Launchable{
			"app": {
				LaunchableType: manifest.LaunchableTypeHoist,
				Location:       fmt.Sprintf("https://artifacts.example.com/app/app_%d.tar.gz", i),
				Digest:         "sha256:" + strings.Repeat("ab", 32),
				EntryPoints:    []string{"bin/launch"},
				Env:            env,
			},
		},
		Config: map[string]any{"port": 8080, "version": i},
	}
}

var (
	benchOnce    sync.Once
	benchCluster *etcdtest.Cluster
	benchStart   int64
	benchBytes   int
)

// benchHistory writes 10,000 revisions of 1 KiB manifests (1,000 pods, ten
// versions each) once per process, and returns the first revision.
func benchHistory(b *testing.B) (*clientv3.Client, int64) {
	benchOnce.Do(func() {
		// The cluster is shared by both benchmarks and lives as long as
		// the test process.
		benchCluster, _ = etcdtest.Standalone()
		cli := benchCluster.ClientFor(b, benchCluster.Endpoints()...)
		ctx := context.Background()
		resp, err := cli.Get(ctx, "/bench")
		if err != nil {
			b.Fatal(err)
		}
		benchStart = resp.Header.Revision + 1
		// 100 transactions of 100 puts: etcd replays at most 1,000
		// revisions per 100 ms to a catching-up watcher, so one event per
		// revision would measure that throttle, not the client.
		for txn := range benchEvents / benchPerTxn {
			ops := make([]clientv3.Op, 0, benchPerTxn)
			for j := range benchPerTxn {
				i := txn*benchPerTxn + j
				data, _ := json.Marshal(benchManifest(i))
				ops = append(ops, clientv3.OpPut(fmt.Sprintf("/bench/pods/pod%04d", i%benchKeys), string(data)))
			}
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
		}
		data, _ := json.Marshal(benchManifest(0))
		benchBytes = len(data)
	})
	cli := benchCluster.ClientFor(b, benchCluster.Endpoints()...)
	return cli, benchStart
}

// BenchmarkWatchRaw is what a user writes by hand: a plain clientv3 watch
// and encoding/json into the manifest type.
func BenchmarkWatchRaw(b *testing.B) {
	cli, start := benchHistory(b)
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), benchWait)
		wch := cli.Watch(ctx, "/bench/pods/", clientv3.WithPrefix(), clientv3.WithRev(start))
		n := 0
		for n < benchEvents {
			resp, ok := <-wch
			if !ok {
				b.Fatalf("watch of /bench/pods/ from revision %d ended after %d of %d events: %v",
					start, n, benchEvents, ctx.Err())
			}
			if err := resp.Err(); err != nil {
				b.Fatal(err)
			}
			for _, ev := range resp.Events {
				var m manifest.Manifest
				if err := json.Unmarshal(ev.Kv.Value, &m); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
		cancel()
	}
	b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(b.N*benchEvents), "ns/event")
	b.ReportMetric(float64(benchBytes), "bytes/manifest")
}

// BenchmarkWatchTyped replays the same history through the kv watch:
// decoding, the watched state, typed events and batches.
func BenchmarkWatchTyped(b *testing.B) {
	cli, start := benchHistory(b)
	s := kv.New[manifest.Manifest](cli, "/bench/pods/")
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), benchWait)
		w := s.Watch(ctx, kv.FromRevision(start))
		n := 0
		for n < benchEvents {
			batch, err := w.Next(ctx)
			if err != nil {
				b.Fatalf("watch of /bench/pods/ from revision %d after %d of %d events: %v",
					start, n, benchEvents, err)
			}
			for _, ev := range batch.Events {
				if ev.Err != nil {
					b.Fatal(ev.Err)
				}
			}
			n += len(batch.Events)
		}
		cancel()
	}
	b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(b.N*benchEvents), "ns/event")
}
