package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

func TestDay2Rolls(t *testing.T) { forServers(t, dayTwoServers, testRolls) }

// testRolls drives rolls through p2ctl against the reference controller
// and three preparers it starts on nodes of its own (roll-n1..3, labelled
// tier=rolls): two rolls in a row on one RC chain, then a third that is
// paused, resumed, aborted and undone, and one refused as unable to
// progress.
func testRolls(t *testing.T, c *cluster) {
	start := time.Now()
	mark := func(what string) { t.Logf("%s: %s", time.Since(start).Round(100*time.Millisecond), what) }
	nodes := []string{"roll-n1", "roll-n2", "roll-n3"}
	root := t.TempDir()
	for _, n := range nodes {
		stopAppsAtCleanup(t, filepath.Join(root, n))
	}
	app := sleeperApp(t)
	self := app("p2-preparer")
	for _, n := range nodes {
		c.p2ctl("labels", "set", "node", n, "tier=rolls", "--force")
		c.p2ctl("apply", "intent", "--node", n, "-f", writeYAML(t, self))
		c.start("preparer", "--node", n, "--pod-root", filepath.Join(root, n))
	}
	c.start("controller", "--lease-ttl", "2", "--resync", "1s")

	// Each version is the same artifact with its own environment, so its
	// own manifest digest.
	version := func(v int) string {
		id := fmt.Sprintf("web-v%d", v)
		m := app("web")
		l := m.Launchables["app"]
		l.Env = map[string]string{"VERSION": fmt.Sprint(v)}
		m.Launchables["app"] = l
		replicas := 0
		if v == 1 {
			replicas = 3
		}
		c.p2ctl("apply", "rc", "-f", writeYAML(t, map[string]any{"id": id, "manifest": m, "node_selector": "tier=rolls",
			"pod_labels": map[string]string{"app": "web"}, "replicas_desired": replicas}))
		return id
	}
	rcs := rc.NewStore(c.cli)
	replicas := func(id string) int {
		o, err := rcs.Get(context.Background(), id)
		if err != nil {
			return -1
		}
		return o.Value.ReplicasDesired
	}
	listed := func(id, re string) {
		t.Helper()
		rx := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s.*` + re)
		var out string
		require.Eventually(t, func() bool {
			out = c.p2ctl("list", "roll")
			return rx.MatchString(out)
		}, waitFor, 100*time.Millisecond, "list roll: no %s row matching %q in\n%s", id, re, out)
	}
	follow := func(id string) string {
		t.Helper()
		out, err := p2ctlRun(c, waitFor, "roll", "status", id, "--follow")
		require.NoError(t, err, "roll status %s --follow: %s", id, out)
		require.NotContains(t, out, "\r", "no progress-bar frames without a terminal")
		require.Contains(t, out, "roll "+id+" done\n")
		return out
	}

	v1 := version(1)
	rcStatuses := rc.NewStatusStore(c.cli)
	require.Eventually(t, func() bool {
		o, err := rcStatuses.Get(context.Background(), status.ReplicationControllers, v1)
		return err == nil && o.Value.Healthy == 3
	}, waitFor, 100*time.Millisecond, "web-v1 healthy on 3 nodes")
	mark("web-v1 healthy on 3 nodes")

	// Two rolls in a row on one chain: v1 -> v2 -> v3.
	v2 := version(2)
	c.p2ctl("roll", "start", v2, "--from", v1, "--desired", "3", "--minimum", "2")
	out := follow(v2)
	require.Contains(t, out, "roll web-v2: running, new healthy", "one line per change")
	v3 := version(3)
	c.p2ctl("roll", "start", v3, "--from", v2, "--desired", "3", "--minimum", "2", "--leave-old")
	follow(v3)
	mark("two rolls done")
	listed(v2, `\s+done\s+3/3\s+new rc web-v2 runs 3 healthy replicas; old rc web-v1 deleted`)
	listed(v3, `\s+done\s+3/3\s+new rc web-v3 runs 3 healthy replicas; old rc web-v2 left at 0 replicas`)
	require.Equal(t, -1, replicas(v1))
	require.Equal(t, 0, replicas(v2))
	require.Equal(t, 3, replicas(v3))

	// A third roll waits an hour after its first step: pause, resume, abort.
	v4 := version(4)
	c.p2ctl("roll", "start", v4, "--from", v3, "--desired", "3", "--minimum", "2", "--roll-delay", "1h")
	listed(v4, `\s+running\s+\d/3\s+waiting roll_delay 1h0m0s`)
	require.Contains(t, c.p2ctl("roll", "pause", v4), "roll/web-v4 paused")
	listed(v4, `\s+paused\s+\d/3\s+paused`)
	require.Contains(t, c.p2ctl("roll", "resume", v4), "roll/web-v4 resumed")
	listed(v4, `\s+running\s+\d/3\s+waiting roll_delay`)
	require.Contains(t, c.p2ctl("roll", "abort", v4), "roll/web-v4 aborted")
	listed(v4, `\s+halted\s+\d/3\s+aborted by`)
	require.Equal(t, 2, replicas(v3), "abort leaves the old RC as it was")
	require.Equal(t, 1, replicas(v4), "abort leaves the new RC as it was")

	mark("paused, resumed, aborted")
	// Undo: back from v4 to v3, which the abort kept.
	require.Contains(t, c.p2ctl("roll", "undo", v4), "roll/web-v3 started: web-v4 -> web-v3, 3 desired, 2 minimum")
	follow(v3)
	require.Equal(t, 3, replicas(v3))
	require.Equal(t, -1, replicas(v4), "the undone RC is deleted")
	mark("undone")

	// A roll that cannot progress is refused, with why; --force starts it.
	v5 := version(5)
	out, err := p2ctlRun(c, waitFor, "roll", "start", v5, "--from", v3, "--desired", "3", "--minimum", "3")
	require.Error(t, err, "refused: %s", out)
	require.Contains(t, out, "minimum_replicas 3 is not below the 3 nodes that can run pod web")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(out), "\n")+1, "one line: %s", out)
	c.p2ctl("roll", "start", v5, "--from", v3, "--desired", "3", "--minimum", "3", "--force")
	listed(v5, `\s+running\s+\d/3\s+waiting: .*cannot step: minimum_replicas 3`)
	c.p2ctl("roll", "abort", v5)
	mark("refused, forced")
}

// p2ctlRun runs p2ctl with a time limit and returns its combined output
// and its error (non-nil on a non-zero exit).
func p2ctlRun(c *cluster, limit time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "p2ctl"), append([]string{"--etcd", c.etcd}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
