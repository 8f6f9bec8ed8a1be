package kv_test

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
)

// Example stores typed values under a prefix and follows them with a watch.
func Example() {
	cluster, stop := etcdtest.Standalone()
	defer stop()
	cli, err := cluster.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx := context.Background()

	type pod struct {
		Version int `json:"version"`
	}
	pods := kv.New[pod](cli, "/p2/example/web1/")
	if _, err := pods.Create(ctx, "hello", &pod{Version: 1}); err != nil {
		panic(err)
	}

	w := pods.Watch(ctx)
	defer w.Close()
	b, _ := w.Next(ctx)
	fmt.Println(b.Kind, len(b.Events), b.Events[0].Type, b.Events[0].Name)

	cur, _ := pods.Get(ctx, "hello")
	if _, err := pods.Update(ctx, cur, &pod{Version: 2}); err != nil {
		panic(err)
	}
	b, _ = w.Next(ctx)
	ev := b.Events[0]
	fmt.Println(b.Kind, ev.Type, ev.Old.Value.Version, "->", ev.New.Value.Version)

	// A stale compare-and-swap fails.
	_, err = pods.Update(ctx, cur, &pod{Version: 3})
	fmt.Println(err != nil)
	// Output:
	// initial 1 create hello
	// live mutate 1 -> 2
	// true
}
