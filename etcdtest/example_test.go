package etcdtest_test

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/etcdtest"
)

// Example starts a throw-away member outside a test; inside one, use
// etcdtest.New(t) or etcdtest.NewCluster(t, 3), which clean up by themselves.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	if _, err := cli.Put(context.Background(), "/p2/hello", "world"); err != nil {
		panic(err)
	}
	resp, _ := cli.Get(context.Background(), "/p2/hello")
	fmt.Println(string(resp.Kvs[0].Value))
	// Output: world
}
