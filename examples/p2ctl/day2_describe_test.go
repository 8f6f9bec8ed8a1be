package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

func TestDay2Describe(t *testing.T) {
	f := newFleet(t)
	f.ok("apply", "rc", "-f", f.write("rc.yaml", rcYAML("hello-v1", 1, 2)))
	f.ok("labels", "set", "rc", "hello-v1", "team=core")
	f.schedule("web1", "replication_controller_id", "hello-v1", status.Passing)
	f.schedule("web2", "replication_controller_id", "hello-v1", status.Critical)
	_, err := f.cli.Put(f.ctx(), "/p2/status/replication_controllers/hello-v1/rc-farm", `{"current":2}`)
	require.NoError(t, err)
	f.putHold("20261205-101010.000000000-replication_controllers-max-deletes-aaaaaa", "replication_controllers",
		[]string{"/p2/replication_controllers/other"})
	f.putHold("20261205-101011.000000000-preparer.web9-not-empty-bbbbbb", "preparer/web9", nil)

	out := f.ok("describe", "rc", "hello-v1")
	require.Regexp(t, `Kind:\s+rc`, out)
	require.Regexp(t, `Key:\s+/p2/replication_controllers/hello-v1`, out)
	require.Regexp(t, `Desired:\s+2\n`, out)
	require.Regexp(t, `Current:\s+2\n`, out)
	require.Regexp(t, `Healthy:\s+1\n`, out)
	require.Regexp(t, `Labels:\s+team=core`, out)
	require.Contains(t, out, "Status:\n  rc-farm: {\"current\":2}\n")
	require.Regexp(t, `web1\s+hello\s+yes\s+launched\s+passing`, out)
	require.Regexp(t, `web2\s+hello\s+yes\s+launched\s+critical`, out)
	require.Regexp(t, `Audit \(newest first\):\n\s+TIME\s+EVENT\s+ACTOR\n\s+\S+\s+create\s+alice`, out)
	require.Contains(t, out, "replication_controllers-max-deletes-aaaaaa")
	require.NotContains(t, out, "preparer.web9")

	out = f.ok("describe", "intent", "web1", "hello")
	require.Regexp(t, `Key:\s+/p2/intent/web1/hello`, out)
	require.Contains(t, out, "Status:\n  preparer: {")
	require.Regexp(t, `Labels:\s+pod_id=hello,replication_controller_id=hello-v1`, out)
	require.Contains(t, out, "Failsafe holds:\n  none\n")

	f.ok("apply", "pc", "-f", f.write("pc.yaml", "id: web-az1\npod_id: hello\navailability_zone: az1\nname: web\npod_selector: app=hello\nmin_health_percentage: 50\n"))
	out = f.ok("describe", "pc", "web-az1")
	require.Contains(t, out, "Status:\n  none\n")
	require.NotContains(t, out, "Pods:")
	f.fails("not found", "describe", "rc", "nosuch")
}

func TestDay2DiffAndEdit(t *testing.T) {
	f := newFleet(t)
	file := f.write("rc.yaml", rcYAML("hello-v1", 1, 2))
	r := f.run("diff", "rc", "-f", file)
	requireFailure(t, r, "diff rc: 1 of 1 entities would change")
	require.Contains(t, r.stdout, "--- (none: apply creates it)\n+++ "+file+":1\n+id: hello-v1\n")

	f.ok("apply", "rc", "-f", file)
	require.Empty(t, f.ok("diff", "rc", "-f", file), "no change: exit 0, nothing printed")
	f.write("rc.yaml", "kind: rc\n"+rcYAML("hello-v1", 1, 5))
	r = f.run("diff", "-f", file)
	requireFailure(t, r, "1 of 1 entities would change")
	require.Contains(t, r.stdout, "-replicas_desired: 2\n+replicas_desired: 5\n")
	require.Contains(t, r.stdout, " id: hello-v1\n")
	require.Regexp(t, `--- /p2/replication_controllers/hello-v1 \(revision \d+\)`, r.stdout)

	// edit: an editor that changes the count applies it; one that changes
	// nothing writes nothing.
	rev := modRevision(t, f.ok("get", "rc", "hello-v1", "-o", "yaml"))
	t.Setenv("EDITOR", "true")
	require.Contains(t, f.ok("edit", "rc", "hello-v1"), "no changes; nothing written")
	require.Equal(t, rev, modRevision(t, f.ok("get", "rc", "hello-v1", "-o", "yaml")))

	script := filepath.Join(f.dir, "editor.sh")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nsed -i 's/replicas_desired: 2/replicas_desired: 7/' \"$1\"\n"), 0o755))
	t.Setenv("EDITOR", script)
	require.Contains(t, f.ok("edit", "rc", "hello-v1"), "configured")
	require.Contains(t, f.ok("get", "rc", "hello-v1", "-o", "yaml"), "replicas_desired: 7")

	// A change made while the editor runs is a conflict, not lost.
	racer := filepath.Join(f.dir, "racer.sh")
	flags := strings.Join(f.flags(), " ")
	require.NoError(t, os.WriteFile(racer, []byte("#!/bin/sh\n"+binary(t)+" "+flags+" rc scale hello-v1 9 >/dev/null\n"+
		"sed -i 's/replicas_desired: 7/replicas_desired: 8/' \"$1\"\n"), 0o755))
	t.Setenv("EDITOR", racer)
	f.fails("changed since revision", "edit", "rc", "hello-v1")
	require.Contains(t, f.ok("get", "rc", "hello-v1", "-o", "yaml"), "replicas_desired: 9")
}

func TestDay2Completion(t *testing.T) {
	f := newFleet(t)
	for _, id := range []string{"hello-v1", "hello-v2", "other"} {
		f.ok("apply", "rc", "-f", f.write(id+".yaml", rcYAML(id, 1, 1)))
	}
	f.ok("apply", "intent", "--node", "web1", "-f", f.write("m.yaml", manifestYAML("hello", 1, 0)))
	for _, verb := range []string{"get", "describe", "delete", "edit"} {
		out := f.ok("__complete", verb, "rc", "hel")
		require.Equal(t, "hello-v1\nhello-v2\n:4\n", firstLines(out, 3), verb)
	}
	require.Equal(t, "web1\n:4\n", firstLines(f.ok("__complete", "get", "intent", ""), 2))
	require.Equal(t, "hello\n:4\n", firstLines(f.ok("__complete", "get", "intent", "web1", ""), 2))
	for _, shell := range []string{"bash", "zsh", "fish"} {
		require.Contains(t, f.ok("completion", shell), "p2ctl")
	}
	f.fails(`completion: unknown command "bsh" (did you mean "bash"?)`, "completion", "bsh")
}

// firstLines returns the first n lines of s, each with its newline.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}
