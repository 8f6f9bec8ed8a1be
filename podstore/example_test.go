package podstore_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/podstore"
)

// Example schedules one manifest onto three nodes in one call, as a
// controller does, and lists one node's pods.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx := context.Background()
	s := podstore.New(cli, "intent")
	m := &manifest.Manifest{ID: "hello", Launchables: map[string]manifest.Launchable{"app": {
		LaunchableType: manifest.LaunchableTypeHoist, Location: "file:///srv/hello.tar.gz",
		Digest: "sha256:" + strings.Repeat("0", 64)}}}
	n, err := s.Schedule(ctx, nil, []string{"web1", "web2", "web10"}, m)
	fmt.Println(n, err)
	l, _ := s.List(ctx, "web1")
	for _, o := range l.Items {
		fmt.Println(o.Key)
	}
	// Output:
	// 3 <nil>
	// /p2/intent/web1/hello
}
