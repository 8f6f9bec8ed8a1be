package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDay2Kubectl(t *testing.T) { forServers(t, dayTwoServers, testKubectl) }

// run runs p2ctl with extra environment and standard input, and returns
// its exit code, stdout and stderr.
func (c *cluster) run(env []string, stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "p2ctl"), append([]string{"--etcd", c.etcd}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errb.String()
	}
	require.NoError(c.t, err)
	return 0, out.String(), errb.String()
}

// testKubectl drives p2ctl's kubectl habits against a live controller and
// two preparers: kind and metadata that apply again unchanged, audit with
// the operator's name, counts from the fleet, describe, diff, exit codes,
// and a delete that names the pods it leaves behind.
func testKubectl(t *testing.T, c *cluster) {
	root := t.TempDir()
	nodes := []string{"k1", "k2"}
	stopAppsAtCleanup(t, filepath.Join(root, nodes[0]), filepath.Join(root, nodes[1]))
	app := sleeperApp(t)
	alice := []string{"USER=alice"}

	// Exit codes: typos fail with one line.
	for _, args := range [][]string{{"rc", "lst"}, {"failsafe", "relase", "x"}, {"rc", "scale", "x", "-1"}} {
		code, _, stderr := c.run(nil, "", args...)
		require.Equal(t, 1, code, "p2ctl %v", args)
		require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	}

	// A node nobody knows is refused; the preparer's own pod makes it known.
	code, _, stderr := c.run(alice, "", "labels", "set", "node", "k1", "role=kube")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no intent and no labels")
	for _, n := range nodes {
		c.p2ctl("apply", "intent", "--node", n, "-f", writeYAML(t, app("p2-preparer")))
		code, _, stderr = c.run(alice, "", "labels", "set", "node", n, "role=kube")
		require.Equal(t, 0, code, stderr)
		c.start("preparer", "--node", n, "--pod-root", filepath.Join(root, n))
	}
	require.Regexp(t, `update\s+labels\s+node/k2\s+alice|create\s+labels\s+node/k2\s+alice`,
		c.p2ctl("audit", "list", "--entity", "labels", "--id", "node/k2", "--tail", "1"))
	c.start("controller", "--lease-ttl", "2", "--resync", "1s")

	// An RC from a file with kind: and no entity on the command line.
	rc := writeYAML(t, map[string]any{
		"kind": "ReplicationController", "id": "kube", "manifest": app("kube"), "node_selector": "role=kube",
		"replicas_desired": 2,
	})
	code, out, stderr := c.run(alice, "", "diff", "-f", rc)
	require.Equal(t, 1, code, "diff of a new RC: something would change")
	require.Contains(t, out, "+replicas_desired: 2")
	require.Contains(t, stderr, "would change")
	require.Contains(t, c.p2ctl("apply", "-f", rc), "replication_controllers/kube created")
	code, out, _ = c.run(nil, "", "diff", "-f", rc)
	require.Equal(t, 0, code, out)

	// The farm schedules, the preparers launch: the columns count them.
	var last string
	require.Eventually(t, func() bool {
		last = c.p2ctl("list", "rc")
		return regexp.MustCompile(`kube\s+kube\s+2\s+2\s+2\s`).MatchString(last)
	}, waitFor, 200*time.Millisecond, "list rc: %s", last)
	desc := c.p2ctl("describe", "rc", "kube")
	for _, n := range nodes {
		require.Regexp(t, n+`\s+kube\s+yes\s+launched\s+passing`, desc)
	}
	require.Regexp(t, `create\s+alice|create\s+\S+`, desc)

	// get -o yaml | apply -f - is a no-op, and a stale copy is a conflict.
	doc := c.p2ctl("get", "rc", "kube", "-o", "yaml")
	require.True(t, strings.HasPrefix(doc, "kind: rc\nmetadata:\n"), doc)
	code, out, stderr = c.run(nil, doc, "apply", "-f", "-")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "kube unchanged")
	require.Equal(t, doc, c.p2ctl("get", "rc", "kube", "-o", "yaml"), "the revision did not move")
	code, _, stderr = c.run(alice, "", "labels", "set", "rc", "kube", "team=core")
	require.Equal(t, 0, code, stderr)
	stale := strings.Replace(doc, "replicas_desired: 2", "replicas_desired: 1", 1)
	require.Contains(t, c.p2ctl("apply", "-f", writeFile(t, stale)), "kube configured")
	code, _, stderr = c.run(nil, stale, "apply", "-f", "-") // its revision is stale now
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "changed since revision")
	require.Contains(t, c.p2ctl("list", "rc", "-l", "team=core"), "kube")

	// Deleting the RC leaves its pod scheduled and says where.
	require.Eventually(t, func() bool {
		last = c.p2ctl("list", "rc")
		return regexp.MustCompile(`kube\s+kube\s+1\s+1\s`).MatchString(last)
	}, waitFor, 200*time.Millisecond, "list rc: %s", last)
	code, out, stderr = c.run(alice, "", "delete", "rc", "kube", "--force")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "1 pods of rc/kube stay scheduled")
	require.Regexp(t, `  k[12]/kube\n`, out)
	require.Regexp(t, `delete\s+replication_controllers\s+kube\s+alice`, c.p2ctl("audit", "list", "--tail", "1"))
}

// writeFile writes s to a temporary file and returns its path.
func writeFile(t *testing.T, s string) string {
	path := filepath.Join(t.TempDir(), "doc.yaml")
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	return path
}
