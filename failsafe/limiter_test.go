package failsafe_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestLimiter(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := failsafe.NewLimiter("uninstall pod", time.Hour, 2, zap.New(core))
	require.True(t, l.Allow())
	require.NoError(t, l.Wait(t.Context()))
	require.False(t, l.Allow(), "burst of 2 spent")
	require.Equal(t, 1, logs.FilterMessage("destructive action rate-limited; skipped").Len())

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := l.Wait(ctx)
	require.Error(t, err)
	require.ErrorContains(t, err, "uninstall pod")

	fast := failsafe.NewLimiter("unschedule node", time.Millisecond, 1, nil)
	for range 3 {
		require.NoError(t, fast.Wait(t.Context()))
	}
}
