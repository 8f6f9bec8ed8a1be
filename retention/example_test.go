package retention_test

import (
	"context"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/retention"
)

// Example keeps the newest three audit records and makes one pass; a
// controller calls Run instead, which passes every interval while it holds
// the retention lock.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	log := audit.NewLog(cli)
	for i := range 5 {
		op, err := log.Op(audit.Created, rc.Kind, fmt.Sprintf("web-%d", i), "alice", nil)
		if err != nil {
			panic(err)
		}
		if _, err := kv.Commit(ctx, cli, nil, op); err != nil {
			panic(err)
		}
	}
	cleaner, err := retention.New(cli, retention.WithAudit(audit.Retention{MaxRecords: 3}))
	if err != nil {
		panic(err)
	}
	if err := cleaner.Pass(ctx); err != nil {
		panic(err)
	}
	left, err := log.List(ctx, time.Time{}, 0)
	if err != nil {
		panic(err)
	}
	for _, o := range left.Items {
		fmt.Println(o.Value.ID)
	}
	n, _ := cleaner.Deleted()
	fmt.Println("deleted:", n)
	// Output:
	// web-2
	// web-3
	// web-4
	// deleted: 2
}
