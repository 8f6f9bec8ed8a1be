package preparer_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/reality"
)

// Example runs a preparer for node web1 with in-memory parts and waits for
// a pod written to its intent to reach its reality.
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

	pod := func(id string) *manifest.Manifest {
		return &manifest.Manifest{ID: id, Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist, Location: "file:///srv/" + id + ".tar.gz",
			Digest: "sha256:" + strings.Repeat("0", 64)}}}
	}
	// The preparer acts only once it sees its own pod in its intent.
	in := intent.NewStore(cli)
	in.Set(ctx, "web1", pod(preparer.DefaultSelfPodID))
	in.Set(ctx, "web1", pod("hello"))

	node := memory.NewNode()
	p, err := preparer.New(cli, "web1", node, node, preparer.WithHealthChecker(node))
	if err != nil {
		panic(err)
	}
	go p.Run(ctx)

	for {
		if o, err := reality.NewStore(cli).Get(ctx, "web1", "hello"); err == nil {
			_, running := node.Running("hello")
			fmt.Println("installed", o.Value.ID, "running:", running)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Output: installed hello running: true
}
