package failsafe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A content guard: a pod written with version 0 is a half-written value,
// held until it is fixed. It joins the built-in guards over the same Holds
// into one stage, in any order.
func ExampleHoldIf() {
	cli, stop := startEtcd()
	defer stop()
	ctx := context.Background()

	pods := kv.New[pod](cli, "/p2/intent/web2")
	for _, id := range []string{"p2-preparer", "api"} {
		if _, err := pods.Put(ctx, id, &pod{Version: 1}); err != nil {
			panic(err)
		}
	}
	h := failsafe.NewHolds(cli, "preparer/web2")
	noUnset := failsafe.HoldIf(h, "no-unset-version", func(_ context.Context, c failsafe.Change[pod]) failsafe.Verdict {
		for name := range c.Created() {
			if o, _ := c.After.Get(name); o.Value.Version == 0 {
				return failsafe.HoldFor(name + " has no version")
			}
		}
		for name := range c.Mutated() {
			if o, _ := c.After.Get(name); o.Value.Version == 0 {
				return failsafe.HoldFor(name + " has no version")
			}
		}
		return failsafe.Pass
	})
	src := failsafe.Chain[pod](pods.Watch(ctx), noUnset, failsafe.MaxDeletes[pod](h, 2, 0.5))
	b, _ := src.Next(ctx)
	fmt.Println(b.Kind, len(b.Events))

	if _, err := pods.Put(ctx, "web", &pod{Version: 0}); err != nil {
		panic(err)
	}
	if _, err := pods.Put(ctx, "web", &pod{Version: 3}); err != nil {
		panic(err)
	}
	b, _ = src.Next(ctx) // the hold ended when web got a version
	for _, ev := range b.Events {
		fmt.Println(b.Kind, ev.Type, ev.Name, ev.New.Value.Version)
	}
	// Output:
	// initial 2
	// net create web 3
}

// A time-based guard: every change to a pod settles for a while before
// it is delivered. The guard asks to be judged again when the window ends
// (RecheckAfter), so the hold ends with no other write.
func ExampleVerdict() {
	cli, stop := startEtcd()
	defer stop()
	ctx := context.Background()

	pods := kv.New[pod](cli, "/p2/intent/web3")
	if _, err := pods.Put(ctx, "api", &pod{Version: 1}); err != nil {
		panic(err)
	}
	const settle = 300 * time.Millisecond
	var until time.Time
	h := failsafe.NewHolds(cli, "settle")
	settled := failsafe.HoldIf(h, "settle", func(_ context.Context, c failsafe.Change[pod]) failsafe.Verdict {
		if !c.Held && !c.Initial {
			until = time.Now().Add(settle) // a new change: the window starts
		}
		if wait := time.Until(until); wait > 0 {
			return failsafe.Verdict{Hold: "settling", RecheckAfter: wait}
		}
		return failsafe.Pass
	})
	src := failsafe.Chain[pod](pods.Watch(ctx), settled)
	if _, err := src.Next(ctx); err != nil { // the initial listing
		panic(err)
	}

	start := time.Now()
	if _, err := pods.Put(ctx, "api", &pod{Version: 2}); err != nil {
		panic(err)
	}
	b, _ := src.Next(ctx)
	fmt.Println(b.Kind, b.Events[0].Type, b.Events[0].New.Value.Version, "after the window:", time.Since(start) >= settle)
	// Output:
	// net mutate 2 after the window: true
}

// A guard built from scratch, without HoldIf: it records its hold with
// Holds.Begin, which `p2ctl failsafe list` shows, waits for the state to
// come back or for an operator's release, and ends the hold.
func ExampleHolds_Begin() {
	cli, stop := startEtcd()
	defer stop()
	ctx := context.Background()

	pods := kv.New[pod](cli, "/p2/intent/web4")
	if _, err := pods.Put(ctx, "api", &pod{Version: 1}); err != nil {
		panic(err)
	}
	h := failsafe.NewHolds(cli, "keep-api")
	inner := pods.Watch(ctx)
	// keepAPI holds any batch that deletes "api" until an operator
	// releases it.
	keepAPI := kv.SourceFunc[pod](func(ctx context.Context) (*kv.Batch[pod], error) {
		b, err := inner.Next(ctx)
		if err != nil || b.Released {
			return b, err
		}
		for name := range failsafe.BatchChange(b).Deleted() {
			if name != "api" {
				continue
			}
			hd := h.Begin(failsafe.Record{Guard: "keep-api", Reason: "api deleted", Revision: b.Revision, Deletes: 1, Total: b.Before.Len()})
			select {
			case <-hd.Released():
				hd.End(true)
				b.Released = true
				return b, nil
			case <-ctx.Done():
				hd.End(false)
				return nil, ctx.Err()
			}
		}
		return b, nil
	})
	if _, err := keepAPI.Next(ctx); err != nil {
		panic(err)
	}
	del, err := cli.Delete(ctx, "/p2/intent/web4/api")
	if err != nil {
		panic(err)
	}
	// The hold record is written after the delete: watch for it from there.
	records := cli.Watch(ctx, failsafe.HoldKey("/p2", ""), clientv3.WithPrefix(), clientv3.WithRev(del.Header.Revision+1))
	got := make(chan *kv.Batch[pod])
	go func() {
		b, _ := keepAPI.Next(ctx)
		got <- b
	}()

	wr := <-records
	var rec failsafe.Record
	if err := json.Unmarshal(wr.Events[0].Kv.Value, &rec); err != nil {
		panic(err)
	}
	fmt.Println("held by", rec.Guard+":", rec.Reason)
	if err := failsafe.Release(ctx, cli, "/p2", rec.ID, "alice"); err != nil {
		panic(err)
	}
	b := <-got
	fmt.Println(b.Events[0].Type, b.Events[0].Name, "released:", b.Released)
	// Output:
	// held by keep-api: api deleted
	// delete api released: true
}
