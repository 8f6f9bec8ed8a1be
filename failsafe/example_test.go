package failsafe_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type pod struct {
	Version int `json:"version"`
}

// A preparer acts on its node's intent only through a stack of guards:
// nothing while its own pod is missing, and no mass uninstall.
func Example() {
	cli, stop := startEtcd()
	defer stop()
	ctx := context.Background()

	intent := kv.New[pod](cli, "/p2/intent/web1")
	for _, id := range []string{"p2-preparer", "api", "web", "cron"} {
		if _, err := intent.Put(ctx, id, &pod{Version: 1}); err != nil {
			panic(err)
		}
	}

	h := failsafe.NewHolds(cli, "preparer/web1", failsafe.WithPrefix("/p2"))
	src := failsafe.Chain[pod](intent.Watch(ctx),
		failsafe.RequireKey[pod](h, "p2-preparer"),
		failsafe.MaxDeletes[pod](h, 2, 0.5),
	)
	b, _ := src.Next(ctx)
	fmt.Println(b.Kind, "batch of", len(b.Events), "pods")

	// Something wipes the node's intent: the preparer sees nothing.
	if _, err := cli.Delete(ctx, "/p2/intent/web1/", clientv3.WithPrefix()); err != nil {
		panic(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := src.Next(short)
	cancel()
	fmt.Println("held:", errors.Is(err, context.DeadlineExceeded))

	holds, _ := failsafe.ListHolds(ctx, cli, "/p2")
	for _, r := range holds {
		fmt.Printf("hold by %s: %s (%d of %d deleted)\n", r.Guard, r.Reason, r.Deletes, r.Total)
	}

	// An operator who means it releases the hold (p2ctl failsafe release).
	if err := failsafe.Release(ctx, cli, "/p2", holds[0].ID, "alice"); err != nil {
		panic(err)
	}
	b, _ = src.Next(ctx)
	fmt.Println(b.Kind, "batch of", b.Deletes(), "deletes; released:", b.Released)

	// Output:
	// initial batch of 4 pods
	// held: true
	// hold by max-deletes,require-key: change deletes 4 of 4 keys: more than 2 and more than 50%; required key "p2-preparer" is absent (4 of 4 deleted)
	// net batch of 4 deletes; released: true
}

// startEtcd starts a throw-away etcd member for the example.
func startEtcd() (*clientv3.Client, func()) {
	c, stop := etcdtest.Standalone()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	return cli, func() {
		cli.Close()
		stop()
	}
}
