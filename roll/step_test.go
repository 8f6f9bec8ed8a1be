package roll

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStepsKeepTheMinimum plays rolls against an ideal RC farm whose pods
// are healthy one pass after they are asked for, and checks that the
// healthy pods never drop below the minimum.
func TestStepsKeepTheMinimum(t *testing.T) {
	for _, tc := range []struct {
		name            string
		old, d, m, free int // free: nodes beyond the old pods
		steps           int
	}{
		{name: "4 min 3, no spare node", old: 4, d: 4, m: 3, steps: 4},
		{name: "4 min 3, one spare node", old: 4, d: 4, m: 3, free: 1, steps: 4},
		{name: "10 min 5", old: 10, d: 10, m: 5, steps: 2},
		{name: "min equals desired surges", old: 3, d: 3, m: 3, free: 1, steps: 4},
		{name: "grow while rolling", old: 2, d: 4, m: 2, free: 2, steps: 4},
		{name: "minimum 0 moves everything at once", old: 3, d: 3, m: 0, steps: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := state{O: tc.old, HOld: tc.old, D: tc.d, M: tc.m}
			nodes := tc.old + tc.free
			pendingNew := 0
			steps := 0
			for range 100 {
				if s.complete() {
					break
				}
				o, n, _ := s.next()
				if o != s.O || n != s.N {
					steps++
				}
				// The RC farm removes old pods at once and places new
				// ones where nodes are free; they turn healthy next pass.
				s.HNew += pendingNew
				s.O, s.N = o, n
				s.HOld = min(s.HOld, s.O)
				s.HNew = min(s.HNew, s.N)
				pendingNew = max(0, min(s.N, nodes-s.O)-s.HNew)
				require.GreaterOrEqual(t, s.HOld+s.HNew, min(tc.m, tc.old), "healthy after a step: %+v", s)
			}
			require.True(t, s.complete(), "roll completes: %+v", s)
			require.Equal(t, tc.steps, steps)
		})
	}
}

func TestNextWaitsForUnhealthyNewPods(t *testing.T) {
	s := state{O: 3, N: 1, HOld: 3, HNew: 0, D: 4, M: 3}
	o, n, why := s.next()
	require.Equal(t, []int{3, 1}, []int{o, n})
	require.Contains(t, why, "0 of 1 new pods healthy")
}

func TestNextRemovesFailingOldPodsForFree(t *testing.T) {
	// A roll back from a version whose one pod is critical: the healthy
	// new RC (the version rolled back to) holds the minimum by itself.
	s := state{O: 1, N: 2, HOld: 0, HNew: 2, SickOld: 1, D: 3, M: 2}
	o, n, _ := s.next()
	require.Equal(t, []int{0, 3}, []int{o, n}, "the failing old pod goes, its node takes a new one")

	// Not seen healthy is not failing: it may be a lagging view.
	s.SickOld = 0
	o, n, _ = s.next()
	require.Equal(t, []int{1, 3}, []int{o, n}, "only a surge")
}
