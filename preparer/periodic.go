package preparer

import (
	"context"
	"sync"
	"time"
)

// every runs fn now and then again d after each run ends, until ctx ends
// or stop is called; stop cancels a run in progress and waits for it. Each
// run has a goroutine and a context of its own, and nothing waits between
// runs: a process that runs thousands of preparers (a simulated fleet)
// pays for their periodic work only while it is done. (A context kept from
// one run to the next would cost each preparer a context, its channel and
// its map of children.)
func every(ctx context.Context, d time.Duration, fn func(context.Context)) (stop func()) {
	var (
		mu        sync.Mutex
		stopped   bool
		cancelRun context.CancelFunc // the run in progress's
		timer     *time.Timer
		runs      sync.WaitGroup // the run in progress or scheduled
	)
	var run func()
	run = func() {
		defer runs.Done()
		mu.Lock()
		if stopped || ctx.Err() != nil {
			mu.Unlock()
			return
		}
		rctx, cancel := context.WithCancel(ctx)
		cancelRun = cancel
		mu.Unlock()
		fn(rctx)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		cancelRun = nil
		if stopped || ctx.Err() != nil {
			return
		}
		runs.Add(1)
		timer = time.AfterFunc(d, run)
	}
	runs.Add(1)
	go run()
	return func() {
		mu.Lock()
		stopped = true
		if cancelRun != nil {
			cancelRun()
		}
		if timer != nil && timer.Stop() {
			runs.Done() // the scheduled run will not happen
		}
		mu.Unlock()
		runs.Wait()
	}
}
