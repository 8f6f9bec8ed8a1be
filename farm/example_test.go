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

// Greeting is the entity of the examples' farm.
type Greeting struct {
	Text string `json:"text"`
}

// ExampleFor writes your own farm: a typed reconciler over an entity
// store, wired with For. Every write carries the entity's fence, so that a
// process that lost the entity cannot write for it.
func ExampleFor() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	store := kv.New[Greeting](cli, "/demo/greetings/")

	said := make(chan string, 10)
	greet := func(ctx context.Context, id string, g *kv.Object[Greeting]) (farm.Result, error) {
		if g == nil {
			return farm.Result{}, nil // deleted: nothing to undo
		}
		fence, _ := farm.FenceFrom(ctx)
		_, err := kv.Commit(ctx, cli, fence.Cmps(), clientv3.OpPut("/demo/said/"+id, g.Value.Text))
		if err == nil {
			said <- id + ": " + g.Value.Text
		}
		return farm.Result{}, err // an error is retried with backoff
	}
	f, err := farm.For[Greeting](cli, "greetings", store).
		Complete(farm.ReconcilerFunc[Greeting](greet))
	if err != nil {
		panic(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go f.Run(ctx)
	if _, err := store.Put(ctx, "world", &Greeting{Text: "hello"}); err != nil {
		panic(err)
	}
	fmt.Println(<-said)
	// Output: world: hello
}

// ExampleManager runs your farm beside others in one process: one etcd
// session, one fleet view, one shutdown. The built-in farms join the same
// way (rc.NewFarm(cli, m.Options()...)).
func ExampleManager() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()

	m, err := farm.NewManager(cli, farm.WithTTL(10))
	if err != nil {
		panic(err)
	}
	store := kv.New[Greeting](cli, "/demo/greetings/")
	seen := make(chan string, 10)
	greeters, err := farm.For[Greeting](cli, "greetings", store, m.Options()...).
		Complete(farm.ReconcilerFunc[Greeting](func(ctx context.Context, id string, g *kv.Object[Greeting]) (farm.Result, error) {
			if g != nil {
				seen <- g.Value.Text
			}
			return farm.Result{}, nil
		}))
	if err != nil {
		panic(err)
	}
	if err := m.Add("greeters", greeters); err != nil {
		panic(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if _, err := store.Put(ctx, "world", &Greeting{Text: "hello"}); err != nil {
		panic(err)
	}
	fmt.Println(<-seen)
	cancel() // every farm stops; the lease is revoked: others take over at once
	fmt.Println("stopped:", <-done)
	// Output:
	// hello
	// stopped: <nil>
}
