package failsafe

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The bookkeeping backoff doubles to 5 s, and to 30 s when etcd says it
// is behind.
func TestNextBackoff(t *testing.T) {
	behind := fmt.Errorf("write hold record: %w", rpctypes.ErrTooManyRequests)
	other := errors.New("permission denied")
	for _, c := range []struct {
		from time.Duration
		err  error
		want time.Duration
	}{
		{50 * time.Millisecond, other, 100 * time.Millisecond},
		{50 * time.Millisecond, behind, time.Second},
		{50 * time.Millisecond, fmt.Errorf("write hold record: %w", context.DeadlineExceeded), time.Second},
		{4 * time.Second, other, 5 * time.Second},
		{5 * time.Second, other, 5 * time.Second},
		{4 * time.Second, behind, 8 * time.Second},
		{20 * time.Second, behind, 30 * time.Second},
		{20 * time.Second, rpctypes.ErrTimeout, 30 * time.Second},
		{20 * time.Second, rpctypes.ErrTimeoutWaitAppliedIndex, 30 * time.Second},
	} {
		if got := nextBackoff(c.from, c.err); got != c.want {
			t.Errorf("nextBackoff(%s, %v) = %s, want %s", c.from, c.err, got, c.want)
		}
	}
}

// A retry after etcd refused a request waits half a second to a second,
// not 25 to 50 ms: a fleet whose records were all refused at once would
// otherwise send them all again together.
func TestRetryInSpreadsRetriesWhenEtcdIsBehind(t *testing.T) {
	behind := fmt.Errorf("write hold record: %w", rpctypes.ErrTooManyRequests)
	other := errors.New("permission denied")
	for range 1000 {
		if d := retryIn(minBackoff, behind); d < minBackoffBehind/2 || d > minBackoffBehind {
			t.Fatalf("retryIn(%s, too many requests) = %s, want within [%s, %s]", minBackoff, d, minBackoffBehind/2, minBackoffBehind)
		}
		if d := retryIn(minBackoff, other); d < minBackoff/2 || d > minBackoff {
			t.Fatalf("retryIn(%s, other) = %s, want within [%s, %s]", minBackoff, d, minBackoff/2, minBackoff)
		}
	}
}
