package memory_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/memory"
)

// Example installs and launches a pod on an in-memory node: nothing is
// downloaded and no process starts.
func Example() {
	m := &manifest.Manifest{ID: "hello", Launchables: map[string]manifest.Launchable{"app": {
		LaunchableType: manifest.LaunchableTypeHoist, Location: "file:///srv/hello.tar.gz",
		Digest: "sha256:" + strings.Repeat("0", 64)}}}
	n := memory.NewNode()
	ctx := context.Background()
	dir, _ := n.Install(ctx, m)
	_ = n.Launch(ctx, m, dir)
	h, _ := n.Check(ctx, m, nil)
	pods, _ := n.Pods()
	fmt.Println(pods, h, n.PID("hello") > 0)
	// Output: [hello] passing true
}
