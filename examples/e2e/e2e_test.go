// Package e2e drives the reference binaries — preparer, controller and
// p2ctl — as separate processes against each etcd server p2kit supports:
// the embedded one (3.7) and real external server processes of 3.4
// (Debian's), 3.5 and 3.6 (internal/etcdexec).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"sigs.k8s.io/yaml"
)

const waitFor = 60 * time.Second

// binDir holds the binaries built for this test process; TestMain removes
// it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildOnce compiles the three binaries the first time any test asks.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "p2kit-e2e-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	for _, name := range []string{"preparer", "controller", "p2ctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./"+name)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %w\n%s", name, err, out)
		}
	}
	return dir, nil
})

// build returns the directory of the binaries, built once per test
// process.
func build(t *testing.T) string {
	t.Helper()
	dir, err := buildOnce()
	require.NoError(t, err)
	return dir
}

// Embedded names the embedded etcd server (3.7) in servers and subtests.
const Embedded = "embedded"

// servers lists the etcd servers a cluster can be made on: the embedded
// one and each external version as "etcd-<version>".
func servers() []string {
	out := []string{Embedded}
	for _, v := range etcdexec.Versions() {
		out = append(out, "etcd-"+v)
	}
	return out
}

// newCluster makes a cluster (binaries built, nothing started) on a fresh
// etcd server: Embedded or "etcd-<version>" (see servers).
func newCluster(t *testing.T, server string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: build(t), server: server}
	if server == Embedded {
		e := etcdtest.New(t)
		c.etcd = e.Endpoints()[0]
		c.cli = e.Client(t)
		return c
	}
	v, ok := strings.CutPrefix(server, "etcd-")
	require.True(t, ok, "server %q: want %s or etcd-<version>", server, Embedded)
	s := etcdexec.Start(t, v)
	c.etcd = s.Endpoint()
	c.cli = s.Client(t)
	return c
}

// forEachServer runs fn as one subtest per etcd server (embedded,
// etcd-3.4, etcd-3.5, etcd-3.6), each on a fresh server of its own.
func forEachServer(t *testing.T, fn func(t *testing.T, c *cluster)) {
	t.Helper()
	for _, s := range servers() {
		t.Run(s, func(t *testing.T) { fn(t, newCluster(t, s)) })
	}
}

// stopAppsAtCleanup stops, when the test ends, the apps launched under
// each pod root: apps outlive their preparer by design.
func stopAppsAtCleanup(t *testing.T, roots ...string) {
	t.Cleanup(func() {
		for _, root := range roots {
			l := process.New(root)
			pods, _ := l.Pods()
			for _, p := range pods {
				_ = l.Stop(context.Background(), p, time.Second)
			}
		}
	})
}

// sleeperApp writes an artifact whose app sleeps, and returns a manifest
// of it for any pod id.
func sleeperApp(t *testing.T) func(id string) *manifest.Manifest {
	loc, digest, err := artifacttest.Write(filepath.Join(t.TempDir(), "app.tar.gz"), map[string]artifacttest.File{
		"bin/launch": {Body: "#!/bin/sh\nexec sleep 1000\n", Exec: true},
	})
	require.NoError(t, err)
	return func(id string) *manifest.Manifest {
		return &manifest.Manifest{ID: id, TerminationGracePeriod: 1, Launchables: map[string]manifest.Launchable{
			"app": {LaunchableType: manifest.LaunchableTypeHoist, Location: loc, Digest: digest}}}
	}
}

// dayTwoServers are the servers the Day-2 and failsafe end-to-end tests
// run on: the embedded 3.7, Debian's 3.4 and 3.6. TestBinaries covers 3.5.
var dayTwoServers = []string{Embedded, "etcd-3.4", "etcd-3.6"}

// forServers runs fn as one subtest per named server, each fresh.
func forServers(t *testing.T, names []string, fn func(t *testing.T, c *cluster)) {
	t.Helper()
	for _, s := range names {
		t.Run(s, func(t *testing.T) { fn(t, newCluster(t, s)) })
	}
}

// cluster is an etcd server, the binaries and the processes a test
// started on them.
type cluster struct {
	t      *testing.T
	bin    string           // directory of the binaries
	etcd   string           // the server's client URL
	cli    *clientv3.Client // a client of the server
	server string           // Embedded or "etcd-<version>"
}

// start runs a binary until the test ends, then stops it with SIGTERM and
// checks that it exits 0.
func (c *cluster) start(name string, args ...string) {
	cmd := exec.Command(filepath.Join(c.bin, name), append([]string{"--etcd", c.etcd, "--metrics-addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(c.t, cmd.Start())
	c.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				c.t.Errorf("%s %v: %v\n%s", name, args, err, out.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			c.t.Errorf("%s did not stop on SIGINT\n%s", name, out.String())
		}
	})
}

// p2ctl runs p2ctl and returns its output; it fails the test on a non-zero
// exit.
func (c *cluster) p2ctl(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "p2ctl"), append([]string{"--etcd", c.etcd}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(c.t, err, "p2ctl %v: %s", args, out)
	return string(out)
}

func writeYAML(t *testing.T, v any) string {
	data, err := yaml.Marshal(v)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "f.yaml")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

func TestBinaries(t *testing.T) { forEachServer(t, testBinaries) }

// testBinaries deploys an RC on two nodes, trips the preparer's failsafe
// by wiping its intent, and releases the hold.
func testBinaries(t *testing.T, c *cluster) {
	root := t.TempDir()
	stopAppsAtCleanup(t, filepath.Join(root, "n1"), filepath.Join(root, "n2"))
	app := sleeperApp(t)

	for _, n := range []string{"n1", "n2"} {
		c.p2ctl("labels", "set", "node", n, "role=web", "--force")
		c.p2ctl("apply", "intent", "--node", n, "-f", writeYAML(t, app("p2-preparer")))
		c.start("preparer", "--node", n, "--pod-root", filepath.Join(root, n))
	}
	c.start("controller", "--lease-ttl", "2", "--resync", "1s")

	rcFile := writeYAML(t, map[string]any{
		"id": "hello", "manifest": app("hello"), "node_selector": "role=web",
		"pod_labels": map[string]string{"app": "hello"}, "replicas_desired": 2,
	})
	c.p2ctl("apply", "rc", "-f", rcFile)
	require.Contains(t, c.p2ctl("get", "rc", "hello"), "hello")

	// Both nodes install and launch the pod.
	require.Eventually(t, func() bool {
		out := c.p2ctl("status", "pods", "-o", "json")
		return strings.Count(out, `"launched"`) >= 2 && strings.Count(out, `"passing"`) >= 2
	}, waitFor, 100*time.Millisecond)
	for _, n := range []string{"n1", "n2"} {
		resp, err := c.cli.Get(context.Background(), "/p2/reality/"+n+"/hello")
		require.NoError(t, err)
		require.Len(t, resp.Kvs, 1, "reality of %s", n)
	}

	// Wipe n1's intent behind everyone's back: the preparer holds.
	_, err := c.cli.Delete(context.Background(), "/p2/intent/n1/", clientv3.WithPrefix())
	require.NoError(t, err)
	var holdID, last string
	require.Eventually(t, func() bool {
		var holds []map[string]any
		last = c.p2ctl("failsafe", "list", "-o", "json")
		if err := json.Unmarshal([]byte(last), &holds); err != nil {
			return false
		}
		for _, h := range holds {
			if fmt.Sprint(h["component"]) == "preparer/n1" {
				holdID = fmt.Sprint(h["id"])
				return true
			}
		}
		return false
	}, waitFor, 100*time.Millisecond, "no hold of preparer/n1 in %s", last)
	require.Contains(t, c.p2ctl("failsafe", "list"), holdID)
	resp, err := c.cli.Get(context.Background(), "/p2/reality/n1/hello")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "nothing was uninstalled while held")

	c.p2ctl("failsafe", "release", holdID, "--yes")
	require.Eventually(t, func() bool {
		return !strings.Contains(c.p2ctl("failsafe", "list"), holdID)
	}, waitFor, 100*time.Millisecond)
	// Meanwhile the controller put the RC's pod back into n1's intent, so
	// the released change (net of that) leaves the pod installed.
	require.Eventually(t, func() bool {
		resp, err := c.cli.Get(context.Background(), "/p2/intent/n1/hello")
		return err == nil && len(resp.Kvs) == 1
	}, waitFor, 100*time.Millisecond)
	resp, err = c.cli.Get(context.Background(), "/p2/reality/n1/hello")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
}

// TestForEachServer checks the harness: each subtest's cluster is on a
// fresh server of its version, which p2ctl reaches.
func TestForEachServer(t *testing.T) {
	var names []string
	forEachServer(t, func(t *testing.T, c *cluster) {
		names = append(names, t.Name())
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		st, err := c.cli.Status(ctx, c.etcd)
		require.NoError(t, err)
		want := "3.7."
		if v, ok := strings.CutPrefix(c.server, "etcd-"); ok {
			want = v + "."
		}
		require.True(t, strings.HasPrefix(st.Version, want), "%s runs etcd %s", c.server, st.Version)
		resp, err := c.cli.Get(ctx, "/p2/labels/node/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		require.Zero(t, resp.Count, "a fresh server")
		c.p2ctl("labels", "set", "node", "n1", "server="+c.server, "--force")
		require.Contains(t, c.p2ctl("labels", "get", "node", "n1"), c.server)
	})
	require.Equal(t, []string{"TestForEachServer/embedded", "TestForEachServer/etcd-3.4",
		"TestForEachServer/etcd-3.5", "TestForEachServer/etcd-3.6"}, names)
}
