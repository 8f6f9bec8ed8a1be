package rc_test

import (
	"context"
	"testing"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/farmtest"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/stretchr/testify/require"
)

// The RC farm's schedule and unschedule writes are fenced: once the lock
// is gone, nothing lands.
func TestFarmFencing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
	}{{"schedule", 1}, {"unschedule", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFleet(t)
			_, err := e.labels.Put(e.ctx, labels.Node, "node1", labels.Set{"env": "prod"})
			require.NoError(t, err)
			if tc.replicas == 0 {
				// node1 runs the RC's pod already: scaled to 0, the
				// first reconcile unschedules it.
				_, err = e.intent.Set(e.ctx, "node1", testManifest("hello", 1))
				require.NoError(t, err)
				_, err = e.labels.Put(e.ctx, labels.Pod, "node1/hello",
					labels.Set{"app": "hello", rc.IDLabel: "hello-v1", rc.PodIDLabel: "hello"})
				require.NoError(t, err)
			}
			_, err = e.rcs.Create(e.ctx, "alice", newRC("hello-v1", "hello", "env=prod", tc.replicas))
			require.NoError(t, err)
			farmtest.TestFencing(t, farmtest.Fencing{
				Client: e.cli,
				ID:     "hello-v1",
				Run: func(ctx context.Context, opts ...farm.Option) error {
					f, err := rc.NewFarm(e.cli, farmOpts(t, opts...)...)
					if err != nil {
						return err
					}
					return f.Run(ctx)
				},
			})
		})
	}
}
