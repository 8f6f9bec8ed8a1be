package failsafe_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
)

// replay is an in-memory source for benchmarks: it yields prebuilt batches
// round and round, so that only the guard is measured.
type replay struct {
	batches []*kv.Batch[item]
	i       int
}

func (r *replay) Next(context.Context) (*kv.Batch[item], error) {
	b := r.batches[r.i%len(r.batches)]
	r.i++
	return b, nil
}

// oneKeyBatches returns two one-key batches over a state of n keys: the
// delete of one key and its creation again.
func oneKeyBatches(n int) []*kv.Batch[item] {
	full := make(kv.MapView[item], n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("k%06d", i)
		full[name] = &kv.Object[item]{Name: name, Key: "/bench/" + name, Value: item{N: i}, ModRevision: int64(i + 1)}
	}
	victim := full["k000000"]
	less := make(kv.MapView[item], n)
	for name, o := range full {
		if o != victim {
			less[name] = o
		}
	}
	del := &kv.Batch[item]{
		Kind: kv.Live, Revision: 1,
		Events: []kv.Event[item]{{Type: kv.Delete, Name: victim.Name, Key: victim.Key, Old: victim}},
		Before: kv.Overlay[item](less, map[string]*kv.Object[item]{victim.Name: victim}),
		After:  less,
	}
	create := &kv.Batch[item]{
		Kind: kv.Live, Revision: 2,
		Events: []kv.Event[item]{{Type: kv.Create, Name: victim.Name, Key: victim.Key, New: victim}},
		Before: kv.Overlay[item](full, map[string]*kv.Object[item]{victim.Name: nil}),
		After:  full,
	}
	return []*kv.Batch[item]{del, create}
}

func BenchmarkMaxDeletes(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1k", 1_000}, {"100k", 100_000}} {
		b.Run("state="+size.name, func(b *testing.B) {
			h := failsafe.NewHolds(nil, "bench")
			src := failsafe.MaxDeletes[item](h, 2, 0.5)(&replay{batches: oneKeyBatches(size.n)})
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := src.Next(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
