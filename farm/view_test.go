package farm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/stretchr/testify/require"
)

func TestRunWithView(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	cfg := farm.Configure("test")
	holds, view, own := farm.Attach(cli, cfg, "test", cfg.Log)
	require.NotNil(t, holds)
	require.True(t, own, "without a shared view the farm runs its own")

	// The first part that fails ends the others; the error is named.
	started := make(chan struct{})
	boom := errors.New("boom")
	err := farm.RunWithView(context.Background(), "test farm", view, own,
		func(context.Context) error { close(started); return nil },
		func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		func(context.Context) error { <-started; return boom })
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "test farm: boom")

	// When ctx ends, the run ends with nil.
	_, shared, own := farm.Attach(cli, farm.Configure("test", farm.WithFleet(view)), "test", cfg.Log)
	require.False(t, own)
	require.Same(t, view, shared)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	runView, stopView := context.WithCancel(context.Background())
	defer stopView()
	go view.Run(runView)
	require.NoError(t, farm.RunWithView(ctx, "test farm", shared, false, nil,
		func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
}
