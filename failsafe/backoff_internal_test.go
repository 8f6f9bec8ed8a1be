package failsafe

import (
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
