package preparer_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// TestRealBadIntentKeepsLastGoodVersion writes an undecodable value over a
// running pod's intent: the last good version stays installed and running,
// is run again after its app is killed, and stays after the preparer
// restarts while the value is still bad.
func TestRealBadIntentKeepsLastGoodVersion(t *testing.T) {
	b := newBadIntentNode(t)
	pid := b.appPID("api")
	b.keptGood()
	require.Equal(t, pid, b.appPID("api"), "the bad value restarted the app")

	// The app dies: it is run again, with the last good version.
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return !alive(pid) }, waitFor, 20*time.Millisecond)
	require.Eventually(t, func() bool { return b.appPID("api") != pid }, waitFor, 20*time.Millisecond,
		"the app was never run again")
	b.keptGood()
}

// badIntentNode is a real node whose pod "api" ran a good version before
// an undecodable value was written over its intent.
type badIntentNode struct {
	*realNode
	stop func()
	want string // the good version's manifest digest
	key  string // the pod's intent key
}

func newBadIntentNode(t *testing.T) *badIntentNode {
	b := &badIntentNode{realNode: newRealNode(t)}
	b.self()
	b.stop = b.start()
	good := sleeper(t, "api", "1")
	b.setIntent(good)
	b.launched("api", good)
	b.want = digest(t, good)
	b.key = "/p2/intent/" + b.node + "/api"
	_, err := b.cli.Put(b.ctx(), b.key, "{not json")
	require.NoError(t, err)
	return b
}

// keptGood waits until the pod's record names the bad value, then checks
// that the good version is the one in reality, the one running and the
// one the record names.
func (b *badIntentNode) keptGood() {
	t := b.t
	t.Helper()
	st := b.waitStatus("api", func(s status.PodStatus) bool {
		return s.Status == status.Failed && strings.Contains(s.Error, b.key)
	})
	require.Equal(t, b.want, b.realityDigests()["api"], "reality keeps the last good version")
	running, ok := b.launch.Running("api")
	require.True(t, ok, "the app runs")
	require.Equal(t, b.want, running, "the app runs the last good version")
	require.Equal(t, b.want, st.ManifestDigest, "the status record names the last good version")
}
