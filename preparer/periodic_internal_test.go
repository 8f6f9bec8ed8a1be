package preparer

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// every runs its function again and again with no goroutine waiting in
// between, and stop waits for the run in progress and ends the rest.
func TestEveryHasNoGoroutineBetweenRuns(t *testing.T) {
	const n = 200
	before := runtime.NumGoroutine()
	var runs atomic.Int64
	gate := make(chan struct{})
	var stops []func()
	for range n {
		stops = append(stops, every(context.Background(), time.Hour, func(context.Context) {
			runs.Add(1)
			<-gate
		}))
	}
	close(gate)
	require.Eventually(t, func() bool { return runs.Load() == n }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+5 }, 10*time.Second, time.Millisecond,
		"%d schedules waiting an hour must not keep %d goroutines", n, n)
	for _, stop := range stops {
		stop()
	}

	// A run in progress is waited for; none follows the stop.
	inRun, leave := make(chan struct{}), make(chan struct{})
	var after atomic.Int64
	stop := every(context.Background(), time.Millisecond, func(context.Context) {
		if after.Add(1) == 3 {
			close(inRun)
			<-leave
		}
	})
	<-inRun
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned while a run was in progress")
	case <-time.After(20 * time.Millisecond):
	}
	close(leave)
	<-stopped
	require.EqualValues(t, 3, after.Load())
}

// stop cancels the context of the run in progress, and the end of every's
// context ends the runs; each run has a context of its own.
func TestEveryCancelsTheRunInProgress(t *testing.T) {
	started := make(chan context.Context, 1)
	stop := every(context.Background(), time.Hour, func(ctx context.Context) {
		started <- ctx
		<-ctx.Done()
	})
	rctx := <-started
	stop() // returns only once the run saw its context end
	require.ErrorIs(t, rctx.Err(), context.Canceled)

	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int64
	var last atomic.Pointer[context.Context]
	stop = every(ctx, time.Millisecond, func(rctx context.Context) {
		if prev := last.Swap(&rctx); prev != nil {
			assert.NotSame(t, *prev, rctx, "a run's context is its own")
			assert.ErrorIs(t, (*prev).Err(), context.Canceled, "a run's context ends with the run")
		}
		runs.Add(1)
	})
	require.Eventually(t, func() bool { return runs.Load() >= 3 }, 10*time.Second, time.Millisecond)
	cancel()
	stop()
	n := runs.Load()
	stop() // again: nothing left to wait for, and no run follows
	require.Equal(t, n, runs.Load())
}
