package farm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Example runs a farm whose reconciler writes, fenced by its lock, one key
// per entity.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()

	done := make(chan string, 1)
	f, err := farm.New(cli, "greeters", farm.ReconcileFunc(func(ctx context.Context, id string, fence farm.Fence) error {
		_, err := kv.Commit(ctx, cli, fence.Cmps(), clientv3.OpPut("/demo/"+id, "hello"))
		if err == nil {
			done <- id
		}
		return err
	}))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go f.Run(ctx)
	f.Enqueue("world")
	fmt.Println("reconciled", <-done, "owned", f.Owned())
	// Output: reconciled world owned [world]
}
