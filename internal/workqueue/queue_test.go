package workqueue

import (
	"errors"
	"sync"
	"testing"
	"time"

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
