package p2import_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/p2import"
)

// Example imports a two-key P2 export: the plan lists what would be written,
// and Apply writes it, audited under the operator's name.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx := context.Background()

	export := []p2import.Entry{
		p2import.NewEntry("intent/web1/hello", []byte("id: hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.example.com/hello_1.tar.gz\n    digest_location: https://artifacts.example.com/hello_1.tar.gz.sha256\n")),
		p2import.NewEntry("labels/node/web1", []byte(`{"role":"web"}`)),
		p2import.NewEntry("lock/intent/web1/hello", []byte("session")),
	}
	im := p2import.New(cli, "alice")
	plan, err := im.Plan(ctx, export)
	if err != nil {
		panic(err)
	}
	for _, r := range plan.Records {
		fmt.Println(r.Action, r.Kind, r.ID, r.Key)
	}
	for _, p := range plan.Problems {
		fmt.Println(p.Class, p.Source, strings.Contains(p.Reason, "lock"))
	}
	res, err := im.Apply(ctx, plan, false)
	fmt.Println(len(res.Written), err)
	// Output:
	// create labels node/web1 /p2/labels/node/web1
	// create intent web1/hello /p2/intent/web1/hello
	// skipped lock/intent/web1/hello true
	// 2 <nil>
}
