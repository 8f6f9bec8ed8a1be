package fleet_test

import (
	"context"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/labels"
)

// Example mirrors the fleet and asks which nodes a selector matches.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ls := labels.New(cli)
	ls.Put(ctx, labels.Node, "web1", labels.Set{"tier": "web"})
	ls.Put(ctx, labels.Node, "db1", labels.Set{"tier": "db"})

	v := fleet.New(cli, "/p2", failsafe.NewHolds(cli, "example"), nil)
	go v.Run(ctx)
	if err := v.WaitSynced(ctx); err != nil {
		panic(err)
	}
	fmt.Println(v.NodesMatching(labels.MustParse("tier in (web,api)")))
	// Output: [web1]
}

// ExampleView_IndexPodLabel indexes pod labels by an owner label, as a
// farm of one's own kind finds its pods: the lookup costs the owner's
// pods, not the fleet.
func ExampleView_IndexPodLabel() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ls := labels.New(cli)
	ls.Put(ctx, labels.Pod, "web1/app", labels.Set{"canary_id": "c1"})
	ls.Put(ctx, labels.Pod, "web2/app", labels.Set{"canary_id": "c2"})
	ls.Put(ctx, labels.Pod, "web3/app", labels.Set{"canary_id": "c1"})

	v := fleet.New(cli, "/p2", failsafe.NewHolds(cli, "example"), nil)
	byOwner := v.IndexPodLabel("canary_id") // register once, before or after Run
	go v.Run(ctx)
	if err := v.WaitSynced(ctx); err != nil {
		panic(err)
	}
	fmt.Println(byOwner.Names("c1"), byOwner.Len("c2"))
	for _, o := range v.PodLabelsOfPod("app") {
		fmt.Println(o.Name, o.Value["canary_id"])
	}
	// Output:
	// [web1/app web3/app] 1
	// web1/app c1
	// web2/app c2
	// web3/app c1
}
