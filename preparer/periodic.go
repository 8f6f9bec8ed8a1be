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
// its map of children.) Between runs a periodic costs one struct and one
// timer, set again after each run.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) (stop func()) {
	p := &periodic{ctx: ctx, d: d, fn: fn}
	p.runs.Add(1)
	go p.run()
	return p.stop
}

type periodic struct {
	ctx context.Context
	d   time.Duration
	fn  func(context.Context)

	mu        sync.Mutex
	stopped   bool
	cancelRun context.CancelFunc // the run in progress's
	timer     *time.Timer        // made by the first run, set again by each
	runs      sync.WaitGroup     // the run in progress or scheduled
}

func (p *periodic) run() {
	defer p.runs.Done()
	p.mu.Lock()
	if p.stopped || p.ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	rctx, cancel := context.WithCancel(p.ctx)
	p.cancelRun = cancel
	p.mu.Unlock()
	p.fn(rctx)
	cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancelRun = nil
	if p.stopped || p.ctx.Err() != nil {
		return
	}
	p.runs.Add(1)
	if p.timer == nil {
		p.timer = time.AfterFunc(p.d, p.run)
	} else {
		p.timer.Reset(p.d) // it fired: this run is its
	}
}

func (p *periodic) stop() {
	p.mu.Lock()
	p.stopped = true
	if p.cancelRun != nil {
		p.cancelRun()
	}
	if p.timer != nil && p.timer.Stop() {
		p.runs.Done() // the scheduled run will not happen
	}
	p.mu.Unlock()
	p.runs.Wait()
}
