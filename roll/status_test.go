package roll_test

import (
	"context"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

func TestStatusPhases(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := context.Background()
	s := roll.NewStatusStore(cli)

	// A record written before "running" was named reads as running.
	_, err := cli.Put(ctx, "/p2/status/rolls/web/roll-farm", `{"phase":"rolling","new_healthy":1,"desired_replicas":3}`)
	require.NoError(t, err)
	o, err := s.Get(ctx, status.Rolls, "web")
	require.NoError(t, err)
	require.Equal(t, roll.Running, o.Value.Phase)
	require.Equal(t, "1/3", o.Value.Progress())

	_, err = cli.Put(ctx, "/p2/status/rolls/web/roll-farm", `{"phase":"finished"}`)
	require.NoError(t, err)
	_, err = s.Get(ctx, status.Rolls, "web")
	var derr *kv.DecodeError
	require.ErrorAs(t, err, &derr)
	require.ErrorContains(t, err, `phase "finished" is not running, paused, done, failed or halted`)

	for p, finished := range map[roll.Phase]bool{roll.Running: false, roll.Paused: false,
		roll.Done: true, roll.Failed: true, roll.Halted: true} {
		require.Equal(t, finished, p.Finished(), "%s", p)
		_, err := s.Put(ctx, status.Rolls, "web", &roll.Status{Phase: p})
		require.NoError(t, err)
	}
}

func TestPausedIsOptional(t *testing.T) {
	var r roll.Roll
	require.NoError(t, r.UnmarshalJSON([]byte(`{"id":"b","old_rc":"a","new_rc":"b","desired_replicas":1,"minimum_replicas":0}`)))
	require.False(t, r.Paused)
	require.NoError(t, r.UnmarshalJSON([]byte(`{"id":"b","old_rc":"a","new_rc":"b","desired_replicas":1,"minimum_replicas":0,"paused":true}`)))
	require.True(t, r.Paused)
	require.Error(t, r.UnmarshalJSON([]byte(`{"id":"b","old_rc":"a","new_rc":"b","desired_replicas":1,"minimum_replicas":0,"paused":"yes"}`)))
}
