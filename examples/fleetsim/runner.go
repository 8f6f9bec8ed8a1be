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
	detail         [numRoles]map[string]int64 // writes by key class and failures by code (counter.detail)
	server         *serverMetrics             // deltas of the embedded member's metrics; nil with --etcd
	peakHeap       uint64                     // bytes of heap objects (HeapAlloc: garbage not yet collected included), sampled every 100ms
	peakLive       uint64                     // bytes of heap the last GC marked live (/gc/heap/live:bytes), sampled every 100ms
	peakStacks     uint64                     // bytes of goroutine stacks (/memory/classes/heap/stacks:bytes), sampled every 100ms
	peakRSS        uint64                     // the process's resident bytes (VmRSS), sampled every 100ms; 0 without /proc
	hwm            uint64                     // the process's highest resident bytes so far (VmHWM) at the phase's end
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

// liveKBPerNode is the phase's peak live heap per node of the fleet.
func (r *result) liveKBPerNode() float64 {
	return float64(r.peakLive) / 1024 / float64(max(r.fleet, 1))
}

// rssKBPerNode is the phase's peak resident memory per node of the fleet.
func (r *result) rssKBPerNode() float64 {
	return float64(r.peakRSS) / 1024 / float64(max(r.fleet, 1))
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

// peaks samples the heap, the resident memory and the goroutines every
// 100ms until stopped.
type peaks struct {
	mu         sync.Mutex
	heap, live uint64
	stacks     uint64
	rss        uint64
	goroutines int
	stop       chan struct{}
	done       chan struct{}
}

func startPeaks() *peaks {
	p := &peaks{stop: make(chan struct{}), done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/sched/goroutines:goroutines"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	sample := func() {
		metrics.Read(samples)
		rss := readProcMemory().RSS
		p.mu.Lock()
		p.heap = max(p.heap, samples[0].Value.Uint64())
		p.live = max(p.live, samples[1].Value.Uint64())
		p.goroutines = max(p.goroutines, int(samples[2].Value.Uint64()))
		p.stacks = max(p.stacks, samples[3].Value.Uint64())
		p.rss = max(p.rss, rss)
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

// end stops the sampling and sets r's peaks.
func (p *peaks) end(r *result) {
	close(p.stop)
	<-p.done
	r.peakHeap, r.peakLive, r.peakStacks, r.peakRSS, r.peakGoroutines = p.heap, p.live, p.stacks, p.rss, p.goroutines
	r.hwm = readProcMemory().HWM
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
	var detailBefore [numRoles]map[string]int64
	for i := range detailBefore {
		detailBefore[i] = s.ctr[i].details()
	}
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
	pk.end(r)
	after := s.snapshot()
	for i := range after {
		r.roles[i] = after[i].sub(before[i])
		r.detail[i] = detailDiff(detailBefore[i], s.ctr[i].details())
	}
	if s.srv != nil {
		if srvAfter, err := scrape(ctx, s.srv.MetricsURL); err == nil {
			d := srvAfter.sub(srvBefore)
			r.server = &d
		}
	}
	return r
}
