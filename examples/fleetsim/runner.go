package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// point is one sample of a phase: nodes converged after t.
type point struct {
	t float64 // seconds since the phase began
	n int
}

// result is what one phase cost.
type result struct {
	phase     string
	nodes     int
	seconds   float64 // until every node converged (or the phase gave up)
	converged bool
	reached   int // nodes converged at the end
	err       error

	roles          [numRoles]counts
	server         *serverMetrics // deltas of the embedded member's metrics; nil with --etcd
	peakHeap       uint64         // bytes of live heap objects (HeapAlloc), sampled every 100ms
	peakGoroutines int
	goroutines0    int // goroutines when the phase began
	series         []point

	fleet             int   // nodes in the fleet (the RC phases touch fewer)
	holds             int   // mass deletion: preparer holds listed; release: holds released
	uninstalls        int64 // mass deletion: pods uninstalled since the deletion
	checkedUninstalls bool
	installs          int64    // release: pods installed since the release
	takeover          float64  // controller failover: seconds from the crash to the standby's lock of the roll
	notes             []string // what the phase's check found, for the summary
}

// p2kit is what the preparers and the controller did together: the cost
// of p2kit, without the simulator's own writes.
func (r *result) p2kit() counts { return r.roles[rolePreparers].add(r.roles[roleController]) }

// perNode divides v by the phase's nodes.
func (r *result) perNode(v int64) float64 { return float64(v) / float64(max(r.nodes, 1)) }

// heapKBPerNode is the phase's peak heap per node of the fleet.
func (r *result) heapKBPerNode() float64 {
	return float64(r.peakHeap) / 1024 / float64(max(r.fleet, 1))
}

// goroutinesPerNode is the phase's peak goroutines per node of the fleet.
func (r *result) goroutinesPerNode() float64 {
	return float64(r.peakGoroutines) / float64(max(r.fleet, 1))
}

// releaseEventsPerHold is, for the release phase, the watch events on
// failsafe release keys that p2kit received per hold released.
func (r *result) releaseEventsPerHold() (float64, bool) {
	if r.phase != "release" || r.holds == 0 {
		return 0, false
	}
	return float64(r.p2kit().ReleaseEvents) / float64(r.holds), true
}

// peaks samples the heap and goroutines every 100ms until stopped.
type peaks struct {
	mu         sync.Mutex
	heap       uint64
	goroutines int
	stop       chan struct{}
	done       chan struct{}
}

func startPeaks() *peaks {
	p := &peaks{stop: make(chan struct{}), done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	sample := func() {
		metrics.Read(samples)
		p.mu.Lock()
		p.heap = max(p.heap, samples[0].Value.Uint64())
		p.goroutines = max(p.goroutines, int(samples[1].Value.Uint64()))
		p.mu.Unlock()
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-p.stop:
				sample()
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peaks) end() (uint64, int) {
	close(p.stop)
	<-p.done
	return p.heap, p.goroutines
}

func (s *sim) snapshot() [numRoles]counts {
	var c [numRoles]counts
	for i := range c {
		c[i] = s.ctr[i].snapshot()
	}
	return c
}

// run runs one phase and measures it.
func (s *sim) run(ctx context.Context, ph phase) *result {
	r := &result{phase: ph.name, nodes: ph.nodes, fleet: len(s.nodes), goroutines0: runtime.NumGoroutine()}
	before := s.snapshot()
	var srvBefore serverMetrics
	if s.srv != nil {
		srvBefore, _ = scrape(ctx, s.srv.MetricsURL)
	}
	pk := startPeaks()
	var bar *progressbar.ProgressBar
	if s.cfg.progress {
		bar = progressbar.NewOptions(ph.nodes, progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("%-11s", ph.name)), progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, s.cfg.phaseTimeout)
	defer cancel()

	r.err = ph.act(pctx)
	if r.err == nil {
		done := ph.done
		if done == nil {
			done = func(_ context.Context, n int) (bool, error) { return n >= ph.nodes, nil }
		}
		r.err = poll(pctx, 100*time.Millisecond, func() (bool, error) {
			if err := s.failed(); err != nil {
				return false, err
			}
			n := ph.converged()
			r.reached = n
			r.series = append(r.series, point{t: time.Since(start).Seconds(), n: n})
			if bar != nil {
				_ = bar.Set(n)
			}
			return done(pctx, n)
		})
		r.converged = r.err == nil
		if r.err == context.DeadlineExceeded {
			r.err = fmt.Errorf("%d of %d nodes converged after --phase-timeout %s", r.reached, ph.nodes, s.cfg.phaseTimeout)
		}
	}
	r.seconds = time.Since(start).Seconds()
	if bar != nil {
		_ = bar.Finish()
	}
	if r.err == nil && ph.check != nil {
		if r.err = ph.check(pctx, r); r.err != nil {
			r.converged = false
		}
	}
	r.peakHeap, r.peakGoroutines = pk.end()
	after := s.snapshot()
	for i := range after {
		r.roles[i] = after[i].sub(before[i])
	}
	if s.srv != nil {
		if srvAfter, err := scrape(ctx, s.srv.MetricsURL); err == nil {
			d := srvAfter.sub(srvBefore)
			r.server = &d
		}
	}
	return r
}
