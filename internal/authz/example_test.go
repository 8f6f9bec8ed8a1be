package authz_test

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/authz"
)

// Example creates the users of a two-node fleet and turns authentication
// on. The passwords are shown once: hand each to its preparer
// (--etcd-user preparer-web1, env P2_ETCD_PASSWORD).
func Example() {
	c, stop := etcdtest.SecureStandalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()

	passwords, err := authz.Bootstrap(context.Background(), cli, "/p2", []string{"web1", "web2"})
	if err != nil {
		panic(err)
	}
	for _, user := range slices.Sorted(maps.Keys(passwords)) {
		fmt.Println(user)
	}
	for _, g := range authz.PreparerGrants("/p2", "web1") {
		fmt.Println(g.Type, g.Prefix)
	}
	// Output:
	// p2-controller
	// preparer-web1
	// preparer-web2
	// root
	// READ /p2/intent/web1/
	// READWRITE /p2/reality/web1/
	// READWRITE /p2/status/pods/web1/
	// READWRITE /p2/status/nodes/web1/
	// READWRITE /p2/failsafe/holds/preparer.web1-
	// READWRITE /p2/failsafe/releases/preparer.web1-
}
