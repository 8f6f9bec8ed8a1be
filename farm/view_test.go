package farm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	"github.com/stretchr/testify/require"
)

func TestRunWithView(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	view := fleet.New(cli, "/p2", failsafe.NewHolds(cli, "test"), nil)
	// The first part that fails ends the others; the error is named.
	started := make(chan struct{})
	boom := errors.New("boom")
	err := runWithView(context.Background(), "test farm", view, true,
		func(context.Context) error { close(started); return nil },
		func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		func(context.Context) error { <-started; return boom })
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "test farm: boom")
	// When ctx ends, the run ends with nil.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	runView, stopView := context.WithCancel(context.Background())
	defer stopView()
	go view.Run(runView)
	require.NoError(t, runWithView(ctx, "test farm", view, false, nil,
		func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
}
