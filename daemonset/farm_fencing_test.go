package daemonset_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/farmtest"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
)

// The daemon set farm's placement write is fenced: once the lock is gone,
// nothing lands.
func TestFarmFencing(t *testing.T) {
	w := newWorld(t)
	_, err := w.labels.Put(w.ctx, labels.Node, "node1", labels.Set{"env": "prod"})
	require.NoError(t, err)
	_, err = w.store.Create(w.ctx, "alice", daemonSet("hello-ds", "env=prod", 0))
	require.NoError(t, err)
	farmtest.TestFencing(t, farmtest.Fencing{
		Client: w.cli,
		ID:     "hello-ds",
		Run: func(ctx context.Context, opts ...farm.Option) error {
			f, err := daemonset.NewFarm(w.cli, append([]farm.Option{farm.WithLogger(w.log), farm.WithTTL(2),
				farm.WithBackoff(20*time.Millisecond, 500*time.Millisecond)}, opts...)...)
			if err != nil {
				return err
			}
			return f.Run(ctx)
		},
	})
}
