package rc

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleettest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// benchPodsPerRC is how many pods each RC of the benchmark fleet owns: the
// fleet grows by more RCs, each of the same size.
const benchPodsPerRC = 10

// BenchmarkPlacement measures the fleet-view side of one RC reconcile
// pass, for one RC of benchPodsPerRC pods in a fleet of 1,000 and of
// 10,000 nodes, each with one pod (pod labels and intent) of one of the
// fleet's RCs, all nodes matching every RC's selector:
//
//   - lookups: podsOf (the RC's pods) and busy (the nodes where its pod id
//     is held by anything else);
//   - pass: the whole placement decision, f.place: the nodes the selector
//     matches, the lookups, and place, at steady state (nothing to do).
//
// Flat in fleet size is the goal.
func BenchmarkPlacement(b *testing.B) {
	c := etcdtest.New(b)
	cli := c.Client(b)
	for _, n := range []int{1_000, 10_000} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		f, stop := benchFarm(ctx, b, cli, n)
		id, pod := "rc0007", "pod0007"
		r := &RC{ID: id, Manifest: *fleettest.Manifest(pod, 1), NodeSelector: "role=sim", ReplicasDesired: benchPodsPerRC}
		sel := labels.MustParse(r.NodeSelector)
		healthy := func(podRef) bool { return true }
		b.Run(fmt.Sprintf("labels=%d/lookups", n), func(b *testing.B) {
			for range b.N {
				if mine := f.podsOf(id); len(mine) != benchPodsPerRC {
					b.Fatalf("podsOf(%s) = %d pods, want %d", id, len(mine), benchPodsPerRC)
				}
				if busy := f.busy(id, pod); len(busy) != 0 {
					b.Fatalf("busy(%s, %s) = %v, want none", id, pod, busy)
				}
			}
		})
		b.Run(fmt.Sprintf("labels=%d/pass", n), func(b *testing.B) {
			for range b.N {
				pl := f.place(id, r, sel, healthy)
				if len(pl.Add)+len(pl.Remove) != 0 || len(pl.Keep) != benchPodsPerRC || pl.Message != "" {
					b.Fatalf("placement at steady state: %+v", pl)
				}
			}
		})
		stop()
		cancel()
	}
}

// benchFarm writes a fleet of n labelled nodes with one pod each, spread
// over n/benchPodsPerRC RCs, under its own prefix, and returns an RC farm
// whose fleet view has it all.
func benchFarm(ctx context.Context, b *testing.B, cli *clientv3.Client, n int) (*Farm, func()) {
	prefix := fmt.Sprintf("/bench%d", n)
	rcs := n / benchPodsPerRC
	var ops []clientv3.Op
	for i := range n {
		node, k := fmt.Sprintf("node%05d", i), i%rcs
		pod := fmt.Sprintf("pod%04d", k)
		m, err := json.Marshal(fleettest.Manifest(pod, 1))
		if err != nil {
			b.Fatal(err)
		}
		lbl, _ := json.Marshal(map[string]string{IDLabel: fmt.Sprintf("rc%04d", k), PodIDLabel: pod})
		ops = append(ops,
			clientv3.OpPut(prefix+"/labels/node/"+node, `{"role":"sim"}`),
			clientv3.OpPut(prefix+"/labels/pod/"+node+"/"+pod, string(lbl)),
			clientv3.OpPut(prefix+"/intent/"+node+"/"+pod, string(m)))
	}
	if _, err := kv.CommitChunked(ctx, cli, nil, ops); err != nil {
		b.Fatal(err)
	}
	f, err := NewFarm(cli, farm.WithPrefix(prefix), farm.WithLogger(zap.NewNop()))
	if err != nil {
		b.Fatal(err)
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.view.Run(vctx) }()
	if err := f.view.WaitSynced(ctx); err != nil {
		b.Fatal(err)
	}
	if got := f.view.PodLabels.Len(); got != n {
		b.Fatalf("view has %d pod labels, want %d", got, n)
	}
	return f, func() { cancel(); <-done }
}
