package fleettest_test

import (
	"fmt"

	"github.com/p2kit/p2kit/fleettest"
)

// Example shows the manifests and node names the farms' tests use; a Fleet
// itself needs a *testing.T (fleettest.New(t)).
func Example() {
	m := fleettest.Manifest("hello", 2)
	fmt.Println(m.ID, m.Launchables["app"].Location, fleettest.NodeNames("n", 3))
	// Output: hello file:///nonexistent/hello_2.tar.gz [n1 n2 n3]
}
