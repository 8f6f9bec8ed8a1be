package daemonset_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/storetest"
)

// ExampleNewFarm runs a daemon set farm and schedules a daemon set on the
// nodes its selector matches.
func ExampleNewFarm() {
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
	ls.Put(ctx, labels.Node, "web1", labels.Set{"role": "edge"})
	ls.Put(ctx, labels.Node, "web2", labels.Set{"role": "edge"})
	ls.Put(ctx, labels.Node, "db1", labels.Set{"role": "db"})

	f, err := daemonset.NewFarm(cli, farm.WithActor("example"))
	if err != nil {
		panic(err)
	}
	fctx, fstop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() { fstop(); <-done }()

	_, err = daemonset.NewStore(cli).Create(ctx, "alice", &daemonset.DaemonSet{
		ID: "edge-proxy", PodID: "proxy", Manifest: *storetest.Manifest("proxy"),
		NodeSelector: "role=edge", MinHealth: 50, Timeout: daemonset.Duration(time.Minute),
	})
	if err != nil {
		panic(err)
	}
	is := intent.NewStore(cli)
	for ctx.Err() == nil {
		_, err1 := is.Get(ctx, "web1", "proxy")
		_, err2 := is.Get(ctx, "web2", "proxy")
		if err1 == nil && err2 == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = is.Get(ctx, "db1", "proxy")
	fmt.Println("web1, web2 scheduled; db1 not found:", errors.Is(err, kv.ErrNotFound))
	l, _ := ls.Get(ctx, labels.Pod, "web1/proxy")
	fmt.Println(l.Value)
	// Output:
	// web1, web2 scheduled; db1 not found: true
	// daemon_set_id=edge-proxy,pod_id=proxy
}
