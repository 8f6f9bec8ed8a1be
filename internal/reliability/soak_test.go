package reliability_test

import (
	"errors"
	"fmt"
	"github.com/p2kit/p2kit/kv"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
)

// soakFor is how long the soak keeps scaling and rolling.
const soakFor = 2 * time.Minute

// measure settles the process and reads its goroutines and live heap.
func measure() (goroutines int, heap uint64) {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// Three nodes, one controller, and for about two minutes an RC scaled up
// and down while rolls replace it with new versions. Every roll completes,
// and at the end the process has about as many goroutines and as much
// live heap as after the first roll.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: about two minutes of scaling and rolls; skipped because testing.Short() (-short)")
	}
	w := newWorld(t, 3)
	nodes := nodeNames("n", 3)
	for _, n := range nodes {
		w.node(n, labels.Set{"env": "prod"}, nil, nil)
	}
	w.controller(w.client(), nil)

	rng := rand.New(rand.NewPCG(3, 5))
	cur := "app-v1"
	_, err := w.rcs.Create(w.ctx, "soak", &rc.RC{ID: cur, Manifest: *version("app", 1), NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": "app"}, ReplicasDesired: 2})
	require.NoError(t, err)
	healthy := func(id string, n int) {
		t.Helper()
		require.Eventually(t, func() bool {
			st := w.rcStatus(id)
			return st != nil && st.Current == n && st.Healthy == n
		}, waitFor, 10*time.Millisecond, "%s healthy with %d replicas", id, n)
	}
	healthy(cur, 2)

	var g0 int
	var h0 uint64
	start := time.Now()
	rolls, scales := 0, 0
	for v := 2; time.Since(start) < soakFor; v++ {
		// Scale the current RC a few times.
		replicas := 2
		for range 3 {
			replicas = 1 + rng.IntN(len(nodes))
			_, err := w.rcs.Modify(w.ctx, "soak", cur, func(r *rc.RC) error { r.ReplicasDesired = replicas; return nil })
			require.NoError(t, err)
			healthy(cur, replicas)
			scales++
		}
		// Roll to the next version.
		next := fmt.Sprintf("app-v%d", v)
		_, err := w.rcs.Create(w.ctx, "soak", &rc.RC{ID: next, Manifest: *version("app", v), NodeSelector: "env=prod",
			PodLabels: map[string]string{"app": "app"}, ReplicasDesired: 0})
		require.NoError(t, err)
		_, err = w.rolls.Create(w.ctx, "soak", &roll.Roll{ID: next, OldRC: cur, NewRC: next,
			DesiredReplicas: replicas, MinimumReplicas: max(0, replicas-1)})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			st := w.rollStatus(next)
			return st != nil && st.Phase == roll.Done
		}, waitFor, 10*time.Millisecond, "roll %s done", next)
		// The farm deletes a finished roll itself, in the transaction
		// that records it done.
		require.Eventually(t, func() bool {
			_, err := w.rolls.Get(w.ctx, next)
			return errors.Is(err, kv.ErrNotFound)
		}, waitFor, 10*time.Millisecond, "roll %s deleted by the farm once done", next)
		cur = next
		rolls++
		if rolls == 1 {
			g0, h0 = measure()
		}
	}
	healthy(cur, len(w.placed("app")))
	// etcd runs in this process and keeps every revision in memory until
	// compacted, as a real cluster's auto-compaction would: compact, then
	// let the last changes settle before the final reading.
	w.etcd.Compact(t, 0)
	var g1 int
	var h1 uint64
	require.Eventually(t, func() bool {
		g1, h1 = measure()
		return g1 <= g0+g0/10+20 && h1 <= 2*h0+16<<20
	}, 30*time.Second, 500*time.Millisecond, "goroutines %d -> %d, heap %d -> %d", g0, g1, h0, h1)
	figure(t, "soak: rolls and scalings", fmt.Sprintf("%d rolls, %d scalings in %s", rolls, scales, time.Since(start).Round(time.Second)))
	figure(t, "soak: goroutines after the first roll and at the end", fmt.Sprintf("%d -> %d", g0, g1))
	figure(t, "soak: live heap after the first roll and at the end", fmt.Sprintf("%.1f MiB -> %.1f MiB", float64(h0)/(1<<20), float64(h1)/(1<<20)))
}
