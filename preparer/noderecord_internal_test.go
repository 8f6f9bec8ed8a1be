package preparer

import (
	"testing"
	"time"
)

// A node record write that failed is tried again later after each failure
// in a row, up to eight refresh intervals, and at random within the upper
// half of that, so that a fleet whose writes all failed together does not
// send them again together.
func TestNodeRecordRetryBacksOff(t *testing.T) {
	const every = 5 * time.Second
	for _, c := range []struct {
		fails    int
		min, max time.Duration
	}{
		{1, every, 2 * every},
		{2, 2 * every, 4 * every},
		{3, 4 * every, 8 * every},
		{10, 4 * every, 8 * every},
	} {
		for range 1000 {
			if d := nodeRecordRetry(every, c.fails); d < c.min || d > c.max {
				t.Fatalf("nodeRecordRetry(%s, %d) = %s, want within [%s, %s]", every, c.fails, d, c.min, c.max)
			}
		}
	}
}
