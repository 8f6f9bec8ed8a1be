package roll_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/farmtest"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
)

// The roll farm's step write is fenced: once the lock is gone, nothing
// lands.
func TestRollFarmFencing(t *testing.T) {
	e := newFleet(t)
	_, err := e.rcs.Create(e.ctx, "alice", versionRC("hello-v1", testManifest("hello", 1), 2))
	require.NoError(t, err)
	_, err = e.rcs.Create(e.ctx, "alice", versionRC("hello-v2", testManifest("hello", 2), 0))
	require.NoError(t, err)
	_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 2, MinimumReplicas: 0, Deadline: roll.Duration(time.Minute)})
	require.NoError(t, err)
	farmtest.TestFencing(t, farmtest.Fencing{
		Client: e.cli,
		ID:     "hello-v2",
		Run: func(ctx context.Context, opts ...farm.Option) error {
			f, err := roll.NewFarm(e.cli, farmOpts(t, opts...)...)
			if err != nil {
				return err
			}
			return f.Run(ctx)
		},
	})
}
