package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/fleettest"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// farmFleet is a fleet whose RC and roll farms run in the test, over
// memory nodes labelled env=prod whose preparers report health; the pods
// of unhealthyVersion never pass.
func farmFleet(t *testing.T, nodes, unhealthyVersion int) *fleet {
	ft := fleettest.New(t)
	m, err := manifest.Decode([]byte(manifestYAML("hello", unhealthyVersion, 0)))
	require.NoError(t, err)
	bad := fleettest.Digest(t, m)
	ft.StartNodes(func(d string) bool { return d == bad }, labels.Set{"env": "prod"}, fleettest.NodeNames("node", nodes)...)
	rf, err := rc.NewFarm(ft.Cli, fleettest.FarmOptions(t)...)
	require.NoError(t, err)
	ft.Run(rf.Run)
	lf, err := roll.NewFarm(ft.Cli, fleettest.FarmOptions(t)...)
	require.NoError(t, err)
	ft.Run(lf.Run)
	return &fleet{t: t, c: ft.Etcd, cli: ft.Cli, dir: t.TempDir()}
}

// rcHealthy waits until the RC farm's record of id says healthy pods.
func (f *fleet) rcHealthy(id string, healthy int) {
	f.t.Helper()
	s := rc.NewStatusStore(f.cli)
	require.Eventually(f.t, func() bool {
		o, err := s.Get(f.ctx(), status.ReplicationControllers, id)
		return err == nil && o.Value.Healthy == healthy && o.Value.Current == healthy
	}, fleettest.WaitFor, 10*time.Millisecond, "rc %s healthy on %d nodes", id, healthy)
}

// rollRow waits until list roll shows roll id with a row matching re.
func (f *fleet) rollRow(id, re string) string {
	f.t.Helper()
	rx := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s.*` + re)
	var out string
	require.Eventually(f.t, func() bool {
		out = f.ok("list", "roll")
		return rx.MatchString(out)
	}, fleettest.WaitFor, 20*time.Millisecond, "list roll: no %s row matching %q", id, re)
	return rx.FindString(out)
}

func (f *fleet) replicas(id string) int {
	o, err := rc.NewStore(f.cli).Get(f.ctx(), id)
	if err != nil {
		return -1
	}
	return o.Value.ReplicasDesired
}

func TestRollOperationsWithFarms(t *testing.T) {
	f := farmFleet(t, 3, 3)
	f.ok("apply", "rc", "-f", f.write("v1.yaml", rcYAML("hello-v1", 1, 3)))
	f.rcHealthy("hello-v1", 3)
	f.ok("apply", "rc", "-f", f.write("v2.yaml", rcYAML("hello-v2", 2, 0)))

	// Minimum 3 on the 3 nodes v1 fills: refused, with the reason.
	f.fails("minimum_replicas 3 is not below the 3 nodes that can run pod hello", "roll", "start", "hello-v2",
		"--from", "hello-v1", "--desired", "3", "--minimum", "3")
	f.fails("desired_replicas is 4 but new rc hello-v2 can schedule on only 3 nodes", "roll", "start", "hello-v2",
		"--from", "hello-v1", "--desired", "4", "--minimum", "1")

	// First roll, v1 -> v2, followed without a terminal: lines, no bar.
	f.ok("roll", "start", "hello-v2", "--from", "hello-v1", "--desired", "3", "--minimum", "2", "--leave-old")
	out := f.ok("roll", "status", "hello-v2", "--follow")
	require.NotContains(t, out, "\r", "no progress-bar frames without a terminal")
	require.Contains(t, out, "roll hello-v2 done\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Regexp(t, `^roll hello-v2: done, new healthy 3/3, old replicas 0: new rc hello-v2 runs 3 healthy replicas; old rc hello-v1 left at 0 replicas$`,
		lines[len(lines)-2])
	for i := 1; i < len(lines); i++ {
		require.NotEqual(t, lines[i-1], lines[i], "one line per change")
	}
	f.rollRow("hello-v2", `\s+done\s+3/3\s+new rc hello-v2 runs 3 healthy replicas`)
	f.fails("already finished: done", "roll", "pause", "hello-v2")

	// Second roll on the same chain, v2 -> v3, to a version that never
	// turns healthy: it steps once and says why it waits.
	f.ok("apply", "rc", "-f", f.write("v3.yaml", rcYAML("hello-v3", 3, 0)))
	f.ok("roll", "start", "hello-v3", "--from", "hello-v2", "--desired", "3", "--minimum", "2")
	f.rollRow("hello-v3", `\s+running\s+0/3\s+waiting: 0 of 1 new pods healthy, 2 of 2 old; 2 healthy, need minimum 2, so no old pod can go yet`)

	require.Contains(t, f.ok("roll", "pause", "hello-v3"), "roll/hello-v3 paused")
	f.rollRow("hello-v3", `\s+paused\s+0/3\s+paused`)
	require.Contains(t, f.ok("roll", "resume", "hello-v3"), "roll/hello-v3 resumed")
	f.rollRow("hello-v3", `\s+running\s+0/3\s+waiting`)

	require.Contains(t, f.ok("roll", "abort", "hello-v3"),
		"roll/hello-v3 aborted: halted with old rc hello-v2 at 2 replicas and new rc hello-v3 at 1")
	f.rollRow("hello-v3", `\s+halted\s+0/3\s+aborted by alice`)
	require.Never(t, func() bool { return f.replicas("hello-v2") != 2 || f.replicas("hello-v3") != 1 },
		500*time.Millisecond, 50*time.Millisecond, "abort leaves both RCs as they are")
	f.fails("already finished: halted", "roll", "abort", "hello-v3")

	// Undo: back from v3 to v2, which the abort kept.
	out = f.ok("roll", "undo", "hello-v3")
	require.Contains(t, out, "roll/hello-v2 started: hello-v3 -> hello-v2, 3 desired, 2 minimum")
	require.Contains(t, f.ok("roll", "status", "hello-v2", "--follow"), "roll hello-v2 done")
	require.Equal(t, 3, f.replicas("hello-v2"))
	require.Equal(t, -1, f.replicas("hello-v3"), "the undo deleted the broken RC")
	f.fails("old rc hello-v3 no longer exists", "roll", "undo", "hello-v2")

	// --force starts the refused roll; its status says why it cannot step.
	f.ok("apply", "rc", "-f", f.write("v4.yaml", rcYAML("hello-v4", 4, 0)))
	f.fails("cannot make progress", "roll", "start", "hello-v4", "--from", "hello-v2", "--desired", "3", "--minimum", "3")
	f.ok("roll", "start", "hello-v4", "--from", "hello-v2", "--desired", "3", "--minimum", "3", "--force")
	f.rollRow("hello-v4", `\s+running\s+0/3\s+waiting: .*cannot step: minimum_replicas 3 is not below the 3 nodes`)
}
