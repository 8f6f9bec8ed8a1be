package preparer

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

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
