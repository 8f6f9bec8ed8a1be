package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDay2Health(t *testing.T) { forServers(t, dayTwoServers, testHealth) }

// nodeState is the PREPARER column of node's row in "p2ctl list nodes".
func nodeState(c *cluster, node string) string {
	for _, line := range strings.Split(c.p2ctl("list", "nodes"), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == node {
			return f[1]
		}
	}
	return ""
}

// testHealth starts a preparer with a 2s node TTL, kills it with SIGKILL,
// and watches p2ctl tell it gone within the TTL: list nodes says GONE and
// status pods marks its pods stale.
func testHealth(t *testing.T, c *cluster) {
	const node, ttl = "h1", 2 * time.Second
	root := t.TempDir()
	stopAppsAtCleanup(t, root)
	app := sleeperApp(t)
	c.p2ctl("apply", "intent", "--node", node, "-f", writeYAML(t, app("p2-preparer")))
	c.p2ctl("apply", "intent", "--node", node, "-f", writeYAML(t, app("sleepy")))

	cmd := exec.Command(filepath.Join(c.bin, "preparer"), "--etcd", c.etcd, "--metrics-addr", "", "--log-level", "warn",
		"--node", node, "--pod-root", root, "--node-ttl", ttl.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	require.Eventually(t, func() bool { return nodeState(c, node) == "ALIVE" }, waitFor, 100*time.Millisecond,
		"the preparer never showed alive: %s", &out)
	require.Eventually(t, func() bool {
		s := c.p2ctl("status", "pods", "--node", node)
		return strings.Contains(s, "sleepy") && strings.Contains(s, "passing")
	}, waitFor, 100*time.Millisecond)
	require.NotContains(t, c.p2ctl("status", "pods", "--node", node), "stale")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killed := time.Now()
	// The lease was renewed at most TTL/3 before the kill and etcd revokes
	// expired leases every 500ms: poll up to the TTL and a margin.
	require.Eventually(t, func() bool { return nodeState(c, node) == "GONE" }, ttl+2*time.Second, 50*time.Millisecond,
		"list nodes still shows the killed preparer")
	t.Logf("node record gone %s after SIGKILL (TTL %s)", time.Since(killed).Round(10*time.Millisecond), ttl)
	s := c.p2ctl("status", "pods", "--node", node)
	require.Contains(t, s, "stale(launched)")
	require.Contains(t, s, "stale(passing)")
}
