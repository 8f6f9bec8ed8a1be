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
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// benchPodsPerRC is how many pods each RC of the benchmark fleet owns: the
// fleet grows by more RCs, each of the same size.
const benchPodsPerRC = 10

// BenchmarkPlacementLookups measures what an RC reconcile pass reads from
// the fleet view about its own pods: podsOf (the RC's pods) and busy (the
// nodes where its pod id is held by anything else), for one RC of
// benchPodsPerRC pods in a view of 1,000 and of 10,000 pod labels (and as
// many intent keys). Flat in fleet size is the goal.
func BenchmarkPlacementLookups(b *testing.B) {
	c := etcdtest.New(b)
	cli := c.Client(b)
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("labels=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			prefix := fmt.Sprintf("/bench%d", n)
			rcs := n / benchPodsPerRC
			m, err := json.Marshal(fleettest.Manifest("pod", 1))
			if err != nil {
				b.Fatal(err)
			}
			var ops []clientv3.Op
			for i := range n {
				node, k := fmt.Sprintf("node%05d", i), i%rcs
				pod := fmt.Sprintf("pod%04d", k)
				lbl, _ := json.Marshal(map[string]string{IDLabel: fmt.Sprintf("rc%04d", k), PodIDLabel: pod})
				ops = append(ops,
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
			vctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- f.view.Run(vctx) }()
			defer func() { stop(); <-done }()
			if err := f.view.WaitSynced(ctx); err != nil {
				b.Fatal(err)
			}
			if got := f.view.PodLabels.Len(); got != n {
				b.Fatalf("view has %d pod labels, want %d", got, n)
			}
			id, pod := "rc0007", "pod0007"
			b.ResetTimer()
			for range b.N {
				if mine := f.podsOf(id); len(mine) != benchPodsPerRC {
					b.Fatalf("podsOf(%s) = %d pods, want %d", id, len(mine), benchPodsPerRC)
				}
				if busy := f.busy(id, pod); len(busy) != 0 {
					b.Fatalf("busy(%s, %s) = %v, want none", id, pod, busy)
				}
			}
		})
	}
}
