package podcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/farmtest"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/podcluster"
)

// The pod cluster farm's sync record is fenced: once the lock is gone,
// nothing lands.
func TestFarmFencing(t *testing.T) {
	w := newWorld(t)
	w.place("node1", labels.Set{"app": "hello"})
	w.cluster("hello-az1", "app=hello")
	farmtest.TestFencing(t, farmtest.Fencing{
		Client: w.cli,
		ID:     "hello-az1",
		Run: func(ctx context.Context, opts ...farm.Option) error {
			f, err := podcluster.NewFarm(w.cli, podcluster.NewFileSyncer(w.dir), append([]farm.Option{
				farm.WithLogger(w.log), farm.WithTTL(2), farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)...)
			if err != nil {
				return err
			}
			return f.Run(ctx)
		},
	})
}
