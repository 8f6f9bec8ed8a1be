package preparer

import (
	"context"
	"sync"
	"time"
)

// every runs fn now and then again d after each run ends, until ctx ends
// or stop is called; stop waits for a run in progress. Each run has a
// goroutine of its own, and none waits between runs: a process that runs
// thousands of preparers (a simulated fleet) pays for their periodic work
// only while it is done.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu      sync.Mutex
		stopped bool
		timer   *time.Timer
		runs    sync.WaitGroup // the run in progress or scheduled
	)
	var run func()
	run = func() {
		defer runs.Done()
		if ctx.Err() == nil {
			fn(ctx)
		}
		mu.Lock()
		defer mu.Unlock()
		if stopped || ctx.Err() != nil {
			return
		}
		runs.Add(1)
		timer = time.AfterFunc(d, run)
	}
	runs.Add(1)
	go run()
	return func() {
		cancel()
		mu.Lock()
		stopped = true
		if timer != nil && timer.Stop() {
			runs.Done() // the scheduled run will not happen
		}
		mu.Unlock()
		runs.Wait()
	}
}
