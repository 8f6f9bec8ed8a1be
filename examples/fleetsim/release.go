package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// releaseWorkers release holds at once, all behind one limiter.
const releaseWorkers = 32

// maxReleaseEventsPerHold is what issue 16 allows: the watch events that
// releasing N holds costs stay linear in N.
const maxReleaseEventsPerHold = 3

// release is the operator deciding that the mass deletion was meant: every
// preparer's hold is released the way "p2ctl failsafe release" does (the
// release key, only if the hold record exists, and an audit record, in one
// transaction), paced by a failsafe.Limiter. Each node then uninstalls
// the pods it held, once each, and installs nothing.
//
// Only the preparers' holds are released. The controller's fleet view
// holds the deletion too ("controller/fleet"); released, its daemon set
// and RC farms would schedule their pods again, since the entities still
// exist. Held, the controller keeps the view it had.
type release struct {
	s  *sim
	md *massDelete // the deletion released

	start    time.Time
	counts   [numRoles]counts // when the phase began
	before   []podCalls
	released []time.Time // when each release was committed
	gone     int         // releases sent again: the hold's record was gone (see act)
	finished []bool      // per node: converged
}

// act releases every preparer hold.
func (rl *release) act(ctx context.Context) error {
	s := rl.s
	rl.start, rl.counts = time.Now(), s.snapshot()
	rl.before = make([]podCalls, len(s.mem))
	for i, m := range s.mem {
		rl.before[i] = m.calls()
	}
	picked, err := preparerHolds(ctx, s)
	if err != nil {
		return err
	}
	if len(picked) != len(s.nodes) {
		return fmt.Errorf("failsafe.ListHolds: %d preparer holds to release, want %d", len(picked), len(s.nodes))
	}
	lim := failsafe.NewLimiter("release failsafe hold", time.Duration(float64(time.Second)/s.cfg.releaseRate),
		releaseBurst(s.cfg.releaseRate), s.log)
	log := audit.NewLog(s.drv, keyspace.WithPrefix(s.cfg.prefix))
	// A hold whose record was gone when its release was sent (its
	// preparer's lease lapsed on a busy etcd: the preparer writes it
	// again under its next lease) is released again once it is back, as
	// an operator would on seeing "not found".
	waiting := map[string]string{} // hold id -> node, for the holds gone
	for pending := picked; ; {
		gone, err := rl.releaseAll(ctx, pending, lim, log)
		if err != nil {
			return err
		}
		rl.gone += len(gone)
		maps.Copy(waiting, gone)
		if len(waiting) == 0 {
			return nil
		}
		if pending, err = rl.back(ctx, waiting); err != nil || len(pending) == 0 {
			return err
		}
	}
}

// preparerHolds lists the preparers' holds.
func preparerHolds(ctx context.Context, s *sim) ([]failsafe.Record, error) {
	recs, err := failsafe.ListHolds(ctx, s.drv, s.cfg.prefix)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(recs, func(h failsafe.Record) bool { return !strings.HasPrefix(h.Component, "preparer/") }), nil
}

// back waits until some of the holds waiting are recorded again and
// returns them, taking them out of waiting. A hold whose node has
// uninstalled every pod it held was released after all (a release sent
// again after a timeout finds the hold ended by the first): it is taken
// out too, and back returns nothing once none is left.
func (rl *release) back(ctx context.Context, waiting map[string]string) ([]failsafe.Record, error) {
	index := make(map[string]int, len(rl.s.nodes))
	for i, node := range rl.s.nodes {
		index[node] = i
	}
	for {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, fmt.Errorf("%d holds whose record was gone when released are not back: %w", len(waiting), ctx.Err())
		}
		for id, node := range waiting {
			if i, ok := index[node]; ok && rl.delivered(i) {
				delete(waiting, id)
			}
		}
		if len(waiting) == 0 {
			return nil, nil
		}
		recs, err := failsafe.ListHolds(ctx, rl.s.drv, rl.s.cfg.prefix)
		if err != nil {
			return nil, err
		}
		var again []failsafe.Record
		for _, h := range recs {
			if _, ok := waiting[h.ID]; ok {
				again = append(again, h)
				delete(waiting, h.ID)
			}
		}
		if len(again) > 0 {
			return again, nil
		}
	}
}

// delivered reports whether node i uninstalled every pod it held since
// the release began.
func (rl *release) delivered(i int) bool {
	d := rl.s.mem[i].calls().since(rl.before[i])
	for _, pod := range rl.md.held[i] {
		if d.of(pod).uninstalls == 0 {
			return false
		}
	}
	return true
}

// releaseAll releases holds, paced by lim, and returns the ids of those
// whose record was gone, with their nodes.
func (rl *release) releaseAll(ctx context.Context, holds []failsafe.Record, lim *failsafe.Limiter, log *audit.Log) (map[string]string, error) {
	work := make(chan failsafe.Record)
	var mu sync.Mutex
	var first error
	gone := map[string]string{}
	var wg sync.WaitGroup
	for range releaseWorkers {
		wg.Go(func() {
			for h := range work {
				err := lim.Wait(ctx)
				if err == nil {
					err = releaseHold(ctx, rl.s.drv, log, rl.s.cfg.prefix, h)
				}
				mu.Lock()
				switch {
				case errors.Is(err, kv.ErrNotFound):
					gone[h.ID] = strings.TrimPrefix(h.Component, "preparer/")
				case err != nil && first == nil:
					first = err
				case err == nil:
					rl.released = append(rl.released, time.Now())
				}
				mu.Unlock()
			}
		})
	}
	for i, h := range holds {
		select {
		case work <- h:
		case <-ctx.Done():
		}
		holds[i] = failsafe.Record{} // at 100,000 holds, the records are 0.5 KB a node
	}
	close(work)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return gone, ctx.Err()
}

// releaseBurst is the limiter's burst for rate releases a second.
func releaseBurst(rate float64) int { return max(1, int(rate/10)) }

// releaseHold is p2ctl's release of one hold: the release key, only if
// the hold record still exists, and the audit record, in one transaction.
// A hold gone already is kv.ErrNotFound.
func releaseHold(ctx context.Context, cli *clientv3.Client, log *audit.Log, prefix string, h failsafe.Record) error {
	cmp, put, err := failsafe.ReleaseOp(prefix, h.ID, actor)
	if err != nil {
		return err
	}
	rec, err := log.Op(audit.Released, failsafe.HoldKind, h.ID, actor, h)
	if err != nil {
		return fmt.Errorf("release hold %s: %w", h.ID, err)
	}
	// etcd may time out a commit it applies: send it again while etcd is
	// behind (the same release and audit record, whenever applied).
	retried := false
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		_, err = kv.Commit(ctx, cli, []clientv3.Cmp{cmp}, put, rec)
		if !etcdBehind(ctx, err) {
			break
		}
		retried = true
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("release hold %s: %w", h.ID, err)
		}
	}
	switch {
	case errors.Is(err, kv.ErrConflict) && retried:
		// A try that timed out was applied, or the hold's record is gone
		// (its lease lapsed): the release key, which has no lease, tells.
		resp, gerr := cli.Get(ctx, failsafe.ReleaseKey(prefix, h.ID), clientv3.WithCountOnly())
		switch {
		case gerr != nil:
			return fmt.Errorf("release hold %s: %w", h.ID, gerr)
		case resp.Count > 0:
			return nil // applied; the preparer has yet to take it
		}
		// Not applied, or applied and taken already: sent again if the
		// record comes back (see back).
		return fmt.Errorf("release hold %s: %s: %w", h.ID, failsafe.HoldKey(prefix, h.ID), kv.ErrNotFound)
	case errors.Is(err, kv.ErrConflict):
		return fmt.Errorf("release hold %s: %s: %w", h.ID, failsafe.HoldKey(prefix, h.ID), kv.ErrNotFound)
	case err != nil:
		return fmt.Errorf("release hold %s: %w", h.ID, err)
	}
	return nil
}

// converged counts the nodes that have no hold left, uninstalled every
// pod they held and whose node and status records say so. A node counted once is not looked at again: the check
// at the end looks at every node.
func (rl *release) converged() int {
	if rl.finished == nil {
		rl.finished = make([]bool, len(rl.s.nodes))
	}
	holding := rl.s.obs.holdComponents("preparer/")
	n := 0
	for i, node := range rl.s.nodes {
		if rl.finished[i] {
			n++
			continue
		}
		if holding["preparer/"+node] {
			continue
		}
		// The node's records settle too: its node record gives the pods
		// left, and the status records of the pods it uninstalled are
		// deleted once the removed TTL has passed. Counting that work in
		// the phase at every fleet size keeps the phases comparable.
		if rl.delivered(i) && rl.s.obs.settled(node, rl.md.held[i]) {
			rl.finished[i] = true
			n++
		}
	}
	return n
}

// check waits --hold-for for late uninstalls or installs, then checks that
// every held pod was uninstalled exactly once, nothing else was, nothing
// was installed, and that the releases cost at most
// maxReleaseEventsPerHold watch events each.
func (rl *release) check(ctx context.Context, r *result) error {
	s := rl.s
	t := time.NewTimer(s.cfg.holdFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	var problems []string
	var held, removed, installs, noops int
	for i, node := range s.nodes {
		d := s.mem[i].calls().since(rl.before[i])
		for _, pod := range rl.md.held[i] {
			held++
			if got := d.of(pod).uninstalls; got != 1 {
				problems = append(problems, fmt.Sprintf("%s/%s uninstalled %d times", node, pod, got))
			}
		}
		for _, x := range d {
			removed += int(x.uninstalls)
			if x.uninstalls != 0 && !slices.Contains(rl.md.held[i], x.pod) {
				problems = append(problems, fmt.Sprintf("%s/%s was not held but uninstalled %d times", node, x.pod, x.uninstalls))
			}
			if x.installs != 0 {
				installs += int(x.installs)
				problems = append(problems, fmt.Sprintf("%s/%s installed %d times", node, x.pod, x.installs))
			}
			noops += int(x.noops)
		}
	}
	r.holds = len(rl.released)
	r.uninstalls = int64(removed)
	r.checkedUninstalls = true
	r.installs = int64(installs)
	times := s.removals(rl.start)
	r.notes = append(r.notes,
		fmt.Sprintf("%d preparer holds released in %.1fs, %s (failsafe.Limiter: %g a second, bursts of %d); %d releases found the hold's record gone (its lease lapsed) and were sent again once it was back",
			len(rl.released), spanOf(rl.released).Seconds(), rateOf(rl.released), s.cfg.releaseRate, releaseBurst(s.cfg.releaseRate), rl.gone),
		fmt.Sprintf("%d held pods, %d uninstalls (%d more Uninstall calls found nothing installed), %d installs; uninstalls %s",
			held, removed, noops, installs, rateOf(times)))
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%d problems after the release: %s", len(problems), strings.Join(problems[:min(5, len(problems))], "; "))
	}
	now := s.snapshot()
	events := now[rolePreparers].sub(rl.counts[rolePreparers]).ReleaseEvents +
		now[roleController].sub(rl.counts[roleController]).ReleaseEvents
	if per := float64(events) / float64(max(1, len(rl.released))); per > maxReleaseEventsPerHold {
		return fmt.Errorf("releasing %d holds cost %.1f watch events of failsafe releases per hold, more than %d",
			len(rl.released), per, maxReleaseEventsPerHold)
	}
	return nil
}

// spanOf is the time from the first to the last of ts.
func spanOf(ts []time.Time) time.Duration {
	if len(ts) < 2 {
		return 0
	}
	lo, hi := slices.MinFunc(ts, time.Time.Compare), slices.MaxFunc(ts, time.Time.Compare)
	return hi.Sub(lo)
}

// rateOf says how fast the events at ts came: on average, and the most in
// any one second.
func rateOf(ts []time.Time) string {
	if len(ts) == 0 {
		return "none"
	}
	ts = slices.SortedFunc(slices.Values(ts), time.Time.Compare)
	peak, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	avg := "all at once"
	if d := spanOf(ts); d > 0 {
		avg = fmt.Sprintf("%.0f a second on average", float64(len(ts)-1)/d.Seconds())
	}
	return fmt.Sprintf("%s, at most %d in any second", avg, peak)
}
