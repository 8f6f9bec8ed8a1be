package preparer_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRealBadIntentKeptAcrossPreparerRestart restarts the preparer while a
// pod's intent value is still undecodable: the last good version stays
// installed, running and named by the pod's record.
func TestRealBadIntentKeptAcrossPreparerRestart(t *testing.T) {
	b := newBadIntentNode(t)
	b.keptGood()
	pid := b.appPID("api")

	b.stop()
	require.True(t, alive(pid), "the app survives the preparer")
	before, err := b.statuses.Get(b.ctx(), b.node, "api")
	require.NoError(t, err)
	b.start()
	// Wait for a record written by the new preparer, once it has judged
	// the bad value.
	require.Eventually(t, func() bool {
		o, err := b.statuses.Get(b.ctx(), b.node, "api")
		return err == nil && o.ModRevision > before.ModRevision
	}, waitFor, 20*time.Millisecond, "the restarted preparer never looked at the pod")
	b.keptGood()
	never(t, 500*time.Millisecond, func() bool { return !alive(pid) }, "the app was stopped")
	require.Equal(t, pid, b.appPID("api"))
}
