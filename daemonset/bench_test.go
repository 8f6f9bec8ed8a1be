package daemonset_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/status"
	"github.com/p2kit/p2kit/storetest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkDaemonSetFanout10k schedules one manifest on 10,000 nodes with
// no rate limit, three ways in the same run against the same etcd:
//
//   - batched: the farm's write path on its own: intent and owner label of
//     each node in fenced transactions of at most 128 operations, several
//     in flight (twice the keys the single path writes);
//   - farm: the same end to end: a daemon set created with a running farm
//     (watch, fleet view, plan, writes), timed until the 10,000th intent
//     appears in a watch;
//   - intent-batched: intent alone (the same keys as single) with
//     intent.Schedule: fenced transactions of 128 puts, one after another;
//   - single: one intent put per node, one after another.
//
// It reports each in ms, speedup-x (single / batched), farm-speedup-x
// (single / farm) and intent-speedup-x (single / intent-batched).
func BenchmarkDaemonSetFanout10k(b *testing.B) {
	const nodes = 10000
	cli := etcdtest.New(b).Client(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	names := make([]string, nodes)
	var ops []clientv3.Op
	for i := range names {
		names[i] = fmt.Sprintf("node%05d", i)
		ops = append(ops, clientv3.OpPut("/p2/labels/node/"+names[i], `{"role":"fan"}`))
	}
	if _, err := kv.CommitChunked(ctx, cli, nil, ops); err != nil {
		b.Fatal(err)
	}
	is := intent.NewStore(cli)
	fence := benchFence(b, cli)
	manifestOf := func(pod string) *daemonset.DaemonSet {
		return &daemonset.DaemonSet{ID: pod, PodID: pod, Manifest: *storetest.Manifest(pod), NodeSelector: "role=fan"}
	}

	var batchTime, farmTime, intentTime, singleTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each path runs alone: the farm (and its fleet view) only
		// during its own.
		start := time.Now()
		if err := daemonset.BatchedSchedule(ctx, cli, fence, manifestOf(fmt.Sprintf("batch%d", i)), names); err != nil {
			b.Fatal(err)
		}
		batchTime += time.Since(start)

		b.StopTimer()
		d, stop := benchFarm(b, ctx, cli, i)
		b.StartTimer()
		start = time.Now()
		d()
		farmTime += time.Since(start)
		b.StopTimer()
		stop()
		b.StartTimer()

		start = time.Now()
		if _, err := is.Schedule(ctx, fence.Cmps(), names, storetest.Manifest(fmt.Sprintf("intent%d", i))); err != nil {
			b.Fatal(err)
		}
		intentTime += time.Since(start)

		single := storetest.Manifest(fmt.Sprintf("single%d", i))
		start = time.Now()
		for _, n := range names {
			if _, err := is.Set(ctx, n, single); err != nil {
				b.Fatal(err)
			}
		}
		singleTime += time.Since(start)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(batchTime), "batched-ms")
	b.ReportMetric(ms(farmTime), "farm-ms")
	b.ReportMetric(ms(intentTime), "intent-batched-ms")
	b.ReportMetric(ms(singleTime), "single-put-ms")
	b.ReportMetric(ms(singleTime)/ms(batchTime), "speedup-x")
	b.ReportMetric(ms(singleTime)/ms(farmTime), "farm-speedup-x")
	b.ReportMetric(ms(singleTime)/ms(intentTime), "intent-speedup-x")
}

// benchWait bounds every wait of a benchmark: one that is never
// satisfied fails the run instead of hanging it.
const benchWait = 2 * time.Minute

// benchFarm starts a daemon set farm, waits until its view of the nodes is
// synced, and returns run, which creates daemon set fan<i> on every node
// and returns once the 10,000th intent of it appears, and stop.
func benchFarm(b *testing.B, ctx context.Context, cli *clientv3.Client, i int) (run, stop func()) {
	const nodes = 10000
	pod := fmt.Sprintf("fan%d", i)
	// The intents are counted with a raw watch from a revision read
	// before the farm starts, so none can slip past it.
	before, err := cli.Get(ctx, "/p2/intent/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		b.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	wch := cli.Watch(wctx, "/p2/intent/", clientv3.WithPrefix(),
		clientv3.WithRev(before.Header.Revision+1), clientv3.WithCreatedNotify())

	f, err := daemonset.NewFarm(cli, farm.WithResync(time.Hour), farm.WithActor("bench"))
	if err != nil {
		wcancel()
		b.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	stop = func() {
		wcancel()
		fcancel()
		select {
		case <-done:
		case <-time.After(benchWait):
			b.Fatalf("daemon set farm still running %s after it was stopped", benchWait)
		}
	}
	b.Cleanup(func() { wcancel(); fcancel() }) // a failed wait still stops both
	store := daemonset.NewStore(cli)
	statuses, err := status.NewStore[daemonset.Status](cli, daemonset.StatusNamespace)
	if err != nil {
		b.Fatal(err)
	}
	// A daemon set that matches nothing has a status once the farm has
	// synced its view of the nodes.
	warm := fmt.Sprintf("warm%d", i)
	if _, err := store.Create(ctx, "bench", &daemonset.DaemonSet{ID: warm, PodID: warm,
		Manifest: *storetest.Manifest(warm), NodeSelector: "role=none"}); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(benchWait); ; {
		_, err := statuses.Get(ctx, status.DaemonSets, warm)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("waited %s for the status of daemon set %s: %v", benchWait, warm, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Let the watch start before timing: wait for its created
	// notification.
	select {
	case resp, ok := <-wch:
		if !ok || !resp.Created {
			b.Fatalf("intent watch: want its created notification, got %+v (open %v)", resp, ok)
		}
	case <-time.After(benchWait):
		b.Fatalf("waited %s for the intent watch to start", benchWait)
	}
	var seen atomic.Int64
	all := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		for resp := range wch {
			if err := resp.Err(); err != nil {
				failed <- err
				return
			}
			for _, ev := range resp.Events {
				if strings.HasSuffix(string(ev.Kv.Key), "/"+pod) && ev.IsCreate() {
					if seen.Add(1) == nodes {
						close(all)
						return
					}
				}
			}
		}
	}()
	run = func() {
		ds := &daemonset.DaemonSet{ID: pod, PodID: pod, Manifest: *storetest.Manifest(pod), NodeSelector: "role=fan"}
		if _, err := store.Create(ctx, "bench", ds); err != nil {
			b.Fatal(err)
		}
		select {
		case <-all:
		case err := <-failed:
			b.Fatalf("intent watch for %s failed after %d of %d creates: %v", pod, seen.Load(), nodes, err)
		case <-time.After(benchWait):
			b.Fatalf("waited %s for %d intents of %s; saw %d", benchWait, nodes, pod, seen.Load())
		}
	}
	return run, stop
}

// benchFence owns one entity with a farm and returns its fence.
func benchFence(b *testing.B, cli *clientv3.Client) farm.Fence {
	got := make(chan farm.Fence, 1)
	f, err := farm.New(cli, "bench", func(ctx context.Context, id string) (farm.Result, error) {
		fence, _ := farm.FenceFrom(ctx)
		select {
		case got <- fence:
		default:
		}
		return farm.Result{}, nil
	}, farm.WithResync(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	f.Enqueue("fence")
	select {
	case fence := <-got:
		return fence
	case <-time.After(benchWait):
		b.Fatalf("waited %s for farm bench to reconcile entity \"fence\"", benchWait)
	}
	return farm.Fence{}
}
