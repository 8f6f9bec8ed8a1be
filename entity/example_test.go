package entity_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/etcdtest"
)

type widget struct {
	ID   string `json:"id"`
	Size int    `json:"size"`
}

// Example defines an audited entity in a few lines: every create writes
// its audit record in the same transaction.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx := context.Background()
	s := entity.New(cli, entity.Spec[widget]{
		Dir: "widgets",
		ID:  func(w *widget) string { return w.ID },
		Validate: func(w *widget) error {
			if w.Size <= 0 {
				return errors.New("size: must be positive")
			}
			return nil
		},
	})
	_, err = s.Create(ctx, "alice", &widget{ID: "w1", Size: 3})
	fmt.Println(err)
	_, err = s.Create(ctx, "alice", &widget{ID: "w2"})
	fmt.Println(err != nil)
	recs, _ := audit.NewLog(cli).List(ctx, time.Time{}, 10)
	for _, r := range recs.Items {
		fmt.Println(r.Value.EventType, r.Value.Entity, r.Value.ID, r.Value.Actor)
	}
	// Output:
	// <nil>
	// true
	// create widgets w1 alice
}
