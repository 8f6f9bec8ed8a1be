package workqueue

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDedupAndDirty(t *testing.T) {
	q := New(time.Millisecond, 10*time.Millisecond)
	defer q.Close()
	q.Add("a")
	q.Add("a")
	q.Add("b")
	require.Equal(t, 2, q.Len())
	k, ok := q.Get()
	require.True(t, ok)
	require.Equal(t, "a", k)
	q.Add("a") // dirtied while active: not handed to another worker
	k2, _ := q.Get()
	require.Equal(t, "b", k2)
	require.Equal(t, 0, q.Len())
	q.Done("a", nil)
	require.Equal(t, 1, q.Len(), "a runs again after it is done")
	q.Done("b", nil)
}

func TestRetryBacksOff(t *testing.T) {
	q := New(5*time.Millisecond, 40*time.Millisecond)
	defer q.Close()
	q.Add("a")
	for i := 1; i <= 4; i++ {
		k, ok := q.Get()
		require.True(t, ok)
		q.Done(k, errors.New("boom"))
		require.Equal(t, i, q.Failures("a"))
	}
	k, ok := q.Get() // the retry arrives by itself
	require.True(t, ok)
	q.Done(k, nil)
	require.Equal(t, 0, q.Failures("a"))
	require.LessOrEqual(t, q.backoff(10), 40*time.Millisecond)
	require.Greater(t, q.backoff(10), 29*time.Millisecond)
}

func TestNoKeyOnTwoWorkers(t *testing.T) {
	q := New(time.Millisecond, time.Millisecond)
	var mu sync.Mutex
	active := map[string]bool{}
	var wg sync.WaitGroup
	var total int
	for range 4 {
		wg.Go(func() {
			for {
				k, ok := q.Get()
				if !ok {
					return
				}
				mu.Lock()
				require.False(t, active[k], "key %s on two workers", k)
				active[k] = true
				total++
				mu.Unlock()
				mu.Lock()
				active[k] = false
				mu.Unlock()
				q.Done(k, nil)
			}
		})
	}
	for i := range 1000 {
		q.Add([]string{"a", "b", "c"}[i%3])
	}
	require.Eventually(t, func() bool { return q.Len() == 0 }, 10*time.Second, time.Millisecond)
	q.Close()
	wg.Wait()
	require.GreaterOrEqual(t, total, 3)
}

func TestCloseWakesGet(t *testing.T) {
	q := New(time.Millisecond, time.Millisecond)
	done := make(chan bool)
	go func() {
		_, ok := q.Get()
		done <- ok
	}()
	q.Close()
	require.False(t, <-done)
}

func TestAddAfterKeepsTheEarliest(t *testing.T) {
	q := New(time.Hour, time.Hour)
	defer q.Close()
	q.AddAfter("a", time.Hour)
	q.AddAfter("a", time.Millisecond) // earlier: replaces
	q.AddAfter("a", time.Hour)        // later: ignored
	require.Eventually(t, func() bool { return q.Len() == 1 }, 5*time.Second, time.Millisecond)
	k, ok := q.Get()
	require.True(t, ok)
	require.Equal(t, "a", k)
	q.Done(k, nil)
	q.AddAfter("b", time.Hour)
	q.Forget("b")
	q.Add("c")
	k, _ = q.Get()
	require.Equal(t, "c", k, "a forgotten AddAfter never fires")
	q.Done(k, nil)
}

// A key done with a rest is not run again before the rest has passed,
// however often it is added (dirtied while active or added after), and
// runs once when it has; a rest does not hold back other keys.
func TestDoneRestCoalesces(t *testing.T) {
	q := New(time.Millisecond, time.Millisecond)
	defer q.Close()
	q.Add("a")
	k, _ := q.Get()
	q.Add("a") // dirtied while active
	q.DoneRest(k, nil, time.Hour)
	q.Add("a")
	q.Add("b")
	require.Equal(t, 1, q.Len(), "a rests; only b waits")
	k, _ = q.Get()
	require.Equal(t, "b", k)
	q.Done(k, nil)

	// A short rest: the adds made during it are one run, after it.
	q.Add("c")
	k, _ = q.Get()
	q.DoneRest(k, nil, 20*time.Millisecond)
	q.Add("c")
	q.Add("c")
	require.Eventually(t, func() bool { return q.Len() == 1 }, 5*time.Second, time.Millisecond)
	k, _ = q.Get()
	require.Equal(t, "c", k)
	q.Done(k, nil)
	require.Equal(t, 0, q.Len())
	q.mu.Lock()
	_, kept := q.keys["c"]
	q.mu.Unlock()
	require.False(t, kept, "c has no state left once run after its rest")

	// A rest with no add: nothing runs, and the key's state goes with it.
	q.Add("d")
	k, _ = q.Get()
	q.DoneRest(k, nil, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		_, kept := q.keys["d"]
		return !kept
	}, 5*time.Second, time.Millisecond, "d's rest is over and nothing is left of it")
	require.Equal(t, 0, q.Len())

	// An AddAfter due during a rest runs once the rest is over.
	q.Add("e")
	k, _ = q.Get()
	q.DoneRest(k, nil, 30*time.Millisecond)
	q.AddAfter("e", time.Millisecond)
	require.Eventually(t, func() bool { return q.Len() == 1 }, 5*time.Second, time.Millisecond)
	k, _ = q.Get()
	require.Equal(t, "e", k)
	q.Done(k, nil)
}

// A served queue runs no goroutine while it has nothing to do, never more
// than Serve's n, never one key on two goroutines, and runs a key dirtied
// while it is processed again.
func TestServeStartsGoroutinesOnlyForWork(t *testing.T) {
	q := New(time.Millisecond, time.Millisecond)
	q.Add("early") // before Serve: processed once it is called
	var mu sync.Mutex
	active := map[string]bool{}
	runs := map[string]int{}
	inFn, maxInFn := 0, 0
	release := make(chan struct{})
	stop := q.Serve(3, func(key string) error {
		mu.Lock()
		assert.False(t, active[key], "key %s on two goroutines", key)
		active[key] = true
		runs[key]++
		inFn++
		maxInFn = max(maxInFn, inFn)
		mu.Unlock()
		<-release
		mu.Lock()
		active[key] = false
		inFn--
		mu.Unlock()
		return nil
	})
	defer stop()
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		q.Add(k)
	}
	q.Add("a") // dirtied while (perhaps) processed
	count := func() (int, int) {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.serving, q.busy
	}
	require.Eventually(t, func() bool { s, b := count(); return s == 3 && b == 3 }, 5*time.Second, time.Millisecond)
	close(release)
	require.Eventually(t, func() bool { s, _ := count(); return s == 0 && q.Len() == 0 }, 5*time.Second, time.Millisecond,
		"the goroutines end once nothing is ready")
	mu.Lock()
	require.Equal(t, 3, maxInFn)
	for _, k := range []string{"early", "b", "c", "d", "e"} {
		require.Equal(t, 1, runs[k], k)
	}
	require.GreaterOrEqual(t, runs["a"], 1)
	mu.Unlock()

	// An idle queue that gets one key starts one goroutine for it.
	q.Add("later")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return runs["later"] == 1
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { s, _ := count(); return s == 0 }, 5*time.Second, time.Millisecond)
}

// A served queue's failed key comes back after its backoff and is
// processed again; stop waits for the call in progress.
func TestServeRetriesAndStops(t *testing.T) {
	q := New(time.Millisecond, 5*time.Millisecond)
	n := 0
	var mu sync.Mutex
	stop := q.Serve(1, func(string) error {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n < 3 {
			return errors.New("boom")
		}
		return nil
	})
	q.Add("a")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return n == 3 }, 5*time.Second, time.Millisecond)
	require.Zero(t, q.Failures("a"))
	stop()
	q.Add("b") // closed: nothing runs
	mu.Lock()
	require.Equal(t, 3, n)
	mu.Unlock()
}
