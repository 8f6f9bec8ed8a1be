package preparer

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// lockPod excludes: no two callers hold one pod's lock at once, while
// other pods' locks are free; and no lock is kept once nobody holds or
// waits for it.
func TestPodLocksExcludeAndGo(t *testing.T) {
	p := &Preparer{}
	const callers, rounds = 8, 200
	inside := map[string]int{}
	var mu sync.Mutex // guards inside, for the check only
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for r := range rounds {
				pod := []string{"a", "b"}[(i+r)%2]
				l := p.lockPod(pod)
				mu.Lock()
				inside[pod]++
				n := inside[pod]
				mu.Unlock()
				if n != 1 {
					t.Errorf("%d callers hold the lock of pod %s", n, pod)
				}
				mu.Lock()
				inside[pod]--
				mu.Unlock()
				l.Unlock()
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Zero(t, p.podLocks.Len(), "locks kept with nobody holding them")
}
