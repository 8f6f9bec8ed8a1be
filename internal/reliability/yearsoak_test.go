package reliability_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/retention"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	yearSoak   = flag.Bool("soak", false, "run TestCompressedYear, the compressed-year soak (not part of the default go test)")
	yearRolls  = flag.Int("soak-rolls", 10000, "rolls the compressed-year soak aims at")
	yearFor    = flag.Duration("soak-for", 10*time.Minute, "the compressed-year soak stops after this long, rolls done or not")
	yearPlot   = flag.String("soak-plot", "", "write the compressed-year soak's key count and backend size to this PNG")
	yearNoKeep = flag.Bool("soak-no-retention", false, "run the compressed-year soak without the retention cleaner (to see the keyspace grow)")
)

// Compressed-year settings: what a year of operation does to the keyspace
// in minutes. History is compacted every 30 s (--auto-compaction-mode
// periodic), the backend defragmented every two minutes (an operator's
// cron), audit records kept for a minute (at most 3,000), status records
// of finished rolls and deleted RCs for five seconds.
const (
	yearCompaction = 30 * time.Second
	yearDefrag     = 2 * time.Minute
	yearSample     = 5 * time.Second
	yearApps       = 4
	yearNodes      = 5
)

// sample is one reading of etcd's size.
type sample struct {
	at           time.Duration
	keys         int64
	dbSize       int64
	dbInUse      int64
	rolls, scale int64
}

// TestCompressedYear drives a fleet on embedded etcd through rolls,
// scalings, relabels, and wipes and restores of the node label tree, with
// the retention cleaner running as a controller runs it, and requires the
// key count and the backend's size in use to plateau. Run it with -soak.
func TestCompressedYear(t *testing.T) {
	if !*yearSoak {
		t.Skip("the compressed-year soak runs only with -soak (go test ./internal/reliability -run TestCompressedYear -soak -v)")
	}
	w := newWorldWith(t, 1, etcdtest.WithPeriodicCompaction(yearCompaction))
	ctx, cancel := context.WithTimeout(context.Background(), *yearFor+5*time.Minute)
	defer cancel()
	w.ctx = ctx
	nodes := nodeNames("n", yearNodes)
	for _, n := range nodes {
		w.node(n, labels.Set{"env": "prod", "zone": "a"}, nil, nil)
	}
	w.controller(w.client(), nil)
	if !*yearNoKeep {
		w.cleaner(nil, retention.WithInterval(time.Second), retention.WithStatusGrace(5*time.Second),
			retention.WithAudit(audit.Retention{MaxAge: time.Minute, MaxRecords: 3000}))
	}

	var rolls, scales, relabels, wipes atomic.Int64
	start := time.Now()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := func() bool {
		return runCtx.Err() != nil || time.Since(start) >= *yearFor || rolls.Load() >= int64(*yearRolls)
	}

	// Sampling and the operator's defragmentation.
	var mu sync.Mutex
	var samples []sample
	read := func() {
		keys, err := w.cli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
		require.NoError(t, err)
		st, err := w.cli.Status(ctx, w.etcd.Endpoints()[0])
		require.NoError(t, err)
		mu.Lock()
		samples = append(samples, sample{at: time.Since(start), keys: keys.Count, dbSize: st.DbSize,
			dbInUse: st.DbSizeInUse, rolls: rolls.Load(), scale: scales.Load()})
		mu.Unlock()
	}
	var wg sync.WaitGroup
	errs := make(chan error, yearApps+2)
	wg.Go(func() {
		tick := time.NewTicker(yearSample)
		defer tick.Stop()
		lastDefrag := time.Now()
		for !done() {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			if time.Since(lastDefrag) >= yearDefrag {
				if _, err := w.cli.Defragment(ctx, w.etcd.Endpoints()[0]); err != nil {
					errs <- fmt.Errorf("defragment: %w", err)
					return
				}
				lastDefrag = time.Now()
			}
			read()
		}
	})

	// Each app rolls and scales in a loop of its own.
	for a := range yearApps {
		wg.Go(func() {
			if err := w.rollForever(runCtx, fmt.Sprintf("app%d", a), uint64(a), done, &rolls, &scales); err != nil && !done() {
				errs <- fmt.Errorf("app%d: %w", a, err)
				stopRun()
			}
		})
	}

	// Relabels every second, a wipe and restore of the node labels every
	// 20 s.
	rng := rand.New(rand.NewPCG(7, 11))
	lastWipe := time.Now()
	for !done() {
		n := nodes[rng.IntN(len(nodes))]
		_, err := w.labels.Put(ctx, labels.Node, n, labels.Set{"env": "prod", "zone": []string{"a", "b", "c"}[rng.IntN(3)]})
		require.NoError(t, err)
		relabels.Add(1)
		if time.Since(lastWipe) >= 20*time.Second {
			w.wipeAndRestore("/p2/labels/node/")
			wipes.Add(1)
			lastWipe = time.Now()
		}
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(time.Second):
		}
	}
	stopRun()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	read()
	elapsed := time.Since(start)

	counts := map[string]int64{}
	resp, err := w.cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	for _, kv := range resp.Kvs {
		parts := strings.SplitN(strings.TrimPrefix(string(kv.Key), "/p2/"), "/", 3)
		dir := parts[0]
		if dir == "status" || dir == "labels" {
			dir += "/" + parts[1]
		}
		counts[dir]++
	}
	var dirs []string
	for d, c := range counts {
		dirs = append(dirs, fmt.Sprintf("%s=%d", d, c))
	}
	sort.Strings(dirs)
	figure(t, "compressed year: duration", elapsed.Round(time.Second))
	figure(t, "compressed year: rolls, scalings, relabels, wipes", fmt.Sprintf("%d, %d, %d, %d",
		rolls.Load(), scales.Load(), relabels.Load(), wipes.Load()))
	figure(t, "compressed year: keys by directory at the end", strings.Join(dirs, " "))
	for _, s := range samples {
		t.Logf("SAMPLE t=%4.0fs rolls=%5d keys=%6d db=%6.2fMiB inuse=%6.2fMiB", s.at.Seconds(), s.rolls, s.keys,
			mib(s.dbSize), mib(s.dbInUse))
	}
	if *yearPlot != "" {
		require.NoError(t, plotYear(*yearPlot, samples, *yearNoKeep))
	}

	// The plateau: the second half's peak is within a quarter of the
	// first half's peak after warm-up.
	require.GreaterOrEqual(t, len(samples), 8, "too few samples to judge a plateau")
	q := len(samples) / 4
	early, late := samples[q:2*q], samples[3*q:]
	peak := func(ss []sample, f func(sample) int64) int64 {
		m := int64(0)
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	keys := func(s sample) int64 { return s.keys }
	inUse := func(s sample) int64 { return s.dbInUse }
	figure(t, "compressed year: peak keys, second quarter -> last quarter", fmt.Sprintf("%d -> %d", peak(early, keys), peak(late, keys)))
	figure(t, "compressed year: peak backend in use MiB, second quarter -> last quarter",
		fmt.Sprintf("%.2f -> %.2f", mib(peak(early, inUse)), mib(peak(late, inUse))))
	figure(t, "compressed year: backend size MiB at the end", fmt.Sprintf("%.2f", mib(samples[len(samples)-1].dbSize)))
	trough := func(ss []sample, f func(sample) int64) int64 {
		m := f(ss[0])
		for _, s := range ss {
			m = min(m, f(s))
		}
		return m
	}
	figure(t, "compressed year: lowest backend in use MiB (after a compaction), second quarter -> last quarter",
		fmt.Sprintf("%.2f -> %.2f", mib(trough(early, inUse)), mib(trough(late, inUse))))
	require.LessOrEqual(t, peak(late, keys), peak(early, keys)*5/4+100, "the key count plateaus")
	// Between compactions the backend holds the last 30 s of history too,
	// which grows with the write rate (other work on the machine changes
	// it); just after a compaction it holds little more than the live
	// keys, so the lowest readings are what must plateau.
	require.LessOrEqual(t, trough(late, inUse), trough(early, inUse)*3/2+(1<<20), "the backend in use plateaus")
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// rollForever creates app's RC and then, until done, scales it to a random
// size and rolls it to the next version, deleting nothing by hand: the
// roll farm deletes the finished roll and the old RC.
func (w *world) rollForever(ctx context.Context, app string, seed uint64, done func() bool, rolls, scales *atomic.Int64) error {
	rng := rand.New(rand.NewPCG(seed, 42))
	cur := app + "-v1"
	if _, err := w.rcs.Create(ctx, "soak", &rc.RC{ID: cur, Manifest: *version(app, 1), NodeSelector: "env=prod",
		ReplicasDesired: 2}); err != nil {
		return err
	}
	if err := w.waitHealthy(ctx, cur, 2); err != nil {
		return err
	}
	for v := 2; !done(); v++ {
		replicas := 1 + rng.IntN(yearNodes)
		if _, err := w.rcs.Modify(ctx, "soak", cur, func(r *rc.RC) error { r.ReplicasDesired = replicas; return nil }); err != nil {
			return err
		}
		if err := w.waitHealthy(ctx, cur, replicas); err != nil {
			return err
		}
		scales.Add(1)
		if v%5 == 0 {
			if _, err := w.labels.Put(ctx, labels.ReplicationController, cur, labels.Set{"team": "core", "v": fmt.Sprint(v)}); err != nil {
				return err
			}
		}
		next := fmt.Sprintf("%s-v%d", app, v)
		if _, err := w.rcs.Create(ctx, "soak", &rc.RC{ID: next, Manifest: *version(app, v), NodeSelector: "env=prod",
			ReplicasDesired: 0}); err != nil {
			return err
		}
		if _, err := w.rolls.Create(ctx, "soak", &roll.Roll{ID: next, OldRC: cur, NewRC: next,
			DesiredReplicas: replicas, MinimumReplicas: replicas - 1}); err != nil {
			return err
		}
		if err := waitUntil(ctx, func() bool {
			st := w.rollStatus(next)
			return st != nil && st.Phase == roll.Done
		}); err != nil {
			return fmt.Errorf("roll %s: %w; status %+v; old rc %+v; new rc %+v", next, err, w.rollStatus(next),
				w.rcStatus(cur), w.rcStatus(next))
		}
		rolls.Add(1)
		cur = next
	}
	return nil
}

func (w *world) waitHealthy(ctx context.Context, id string, n int) error {
	err := waitUntil(ctx, func() bool {
		st := w.rcStatus(id)
		return st != nil && st.Current == n && st.Healthy == n
	})
	if err != nil {
		return fmt.Errorf("rc %s healthy with %d replicas: %w; status %+v", id, n, err, w.rcStatus(id))
	}
	return nil
}

// waitUntil polls cond every 20 ms for up to waitFor.
func waitUntil(ctx context.Context, cond func() bool) error {
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("not within " + waitFor.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// wipeAndRestore deletes every key under prefix and puts the same values
// back, as an operator who restores a backup does, then waits until every
// hold the wipe caused has recovered.
func (w *world) wipeAndRestore(prefix string) {
	w.t.Helper()
	resp, err := w.cli.Get(w.ctx, prefix, clientv3.WithPrefix())
	require.NoError(w.t, err)
	_, err = w.cli.Delete(w.ctx, prefix, clientv3.WithPrefix())
	require.NoError(w.t, err)
	var ops []clientv3.Op
	for _, kv := range resp.Kvs {
		ops = append(ops, clientv3.OpPut(string(kv.Key), string(kv.Value)))
	}
	_, err = w.cli.Txn(w.ctx).Then(ops...).Commit()
	require.NoError(w.t, err)
	require.Eventually(w.t, func() bool { return len(w.holds()) == 0 }, waitFor, 20*time.Millisecond,
		"the holds of the wipe of %s recover after the restore", prefix)
}
