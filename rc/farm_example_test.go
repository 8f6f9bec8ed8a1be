package rc_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/status"
	"github.com/p2kit/p2kit/storetest"
)

// Example_farm runs an RC farm over two nodes, each converged by a
// preparer with the in-memory launcher, and waits for the RC's status.
func Example_farm() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	for _, node := range []string{"web1", "web2"} {
		if _, err := labels.New(cli).Put(ctx, labels.Node, node, labels.Set{"env": "prod"}); err != nil {
			panic(err)
		}
		if _, err := intent.NewStore(cli).Set(ctx, node, storetest.Manifest(preparer.DefaultSelfPodID)); err != nil {
			panic(err)
		}
		mem := memory.NewNode()
		p, err := preparer.New(cli, node, mem, mem, preparer.WithHealthChecker(mem),
			preparer.WithHealthInterval(50*time.Millisecond))
		if err != nil {
			panic(err)
		}
		wg.Go(func() { _ = p.Run(ctx) })
	}

	f, err := rc.NewFarm(cli, farm.WithTTL(5))
	if err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()

	_, err = rc.NewStore(cli).Create(ctx, "alice", &rc.RC{ID: "hello-v1", Manifest: *storetest.Manifest("hello"),
		NodeSelector: "env=prod", ReplicasDesired: 2})
	if err != nil {
		panic(err)
	}
	statuses := rc.NewStatusStore(cli)
	for ctx.Err() == nil {
		st, err := statuses.Get(ctx, status.ReplicationControllers, "hello-v1")
		if err == nil && st.Value.Healthy == 2 {
			fmt.Printf("desired %d, current %d, healthy %d\n", st.Value.Desired, st.Value.Current, st.Value.Healthy)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	// Output: desired 2, current 2, healthy 2
}
