package roll_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/p2kit/p2kit/storetest"
)

// Example_farm rolls a pod from v1 to v2 on three nodes, keeping two
// healthy at every step, with an RC farm and a roll farm.
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

	for _, node := range []string{"web1", "web2", "web3"} {
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
	rcFarm, err := rc.NewFarm(cli)
	if err != nil {
		panic(err)
	}
	rollFarm, err := roll.NewFarm(cli)
	if err != nil {
		panic(err)
	}
	wg.Go(func() { _ = rcFarm.Run(ctx) })
	wg.Go(func() { _ = rollFarm.Run(ctx) })

	rcs := rc.NewStore(cli)
	v1 := storetest.Manifest("hello")
	v2 := storetest.MutateManifest(v1)
	if _, err := rcs.Create(ctx, "alice", &rc.RC{ID: "hello-v1", Manifest: *v1, ReplicasDesired: 3}); err != nil {
		panic(err)
	}
	if _, err := rcs.Create(ctx, "alice", &rc.RC{ID: "hello-v2", Manifest: *v2, ReplicasDesired: 0}); err != nil {
		panic(err)
	}
	_, err = roll.NewStore(cli).Create(ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 3, MinimumReplicas: 2, Deadline: roll.Duration(time.Minute)})
	if err != nil {
		panic(err)
	}
	statuses := roll.NewStatusStore(cli)
	for ctx.Err() == nil {
		st, err := statuses.Get(ctx, status.Rolls, "hello-v2")
		if err == nil && st.Value.Phase != roll.Rolling {
			fmt.Println(st.Value.Phase, st.Value.Message)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	// Output: done new rc hello-v2 runs 3 healthy replicas; old rc hello-v1 deleted
}
