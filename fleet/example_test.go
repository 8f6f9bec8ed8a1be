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
