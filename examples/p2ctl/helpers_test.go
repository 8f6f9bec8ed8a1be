package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/syncbuf"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// binDir holds the p2ctl binary built once for the exit-code tests.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds p2ctl once (go build) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "p2ctl-test-")
		if binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "p2ctl")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binError)
	return binPath
}

// result is one run of p2ctl.
type result struct {
	code           int
	stdout, stderr string
}

// fleet is an embedded etcd and the p2ctl flags that reach it.
type fleet struct {
	t   *testing.T
	c   *etcdtest.Cluster
	cli *clientv3.Client
	dir string
}

func newFleet(t *testing.T) *fleet {
	c := etcdtest.New(t)
	return &fleet{t: t, c: c, cli: c.Client(t), dir: t.TempDir()}
}

func (f *fleet) flags() []string {
	return []string{"--etcd", strings.Join(f.c.Endpoints(), ","), "--actor", "alice"}
}

// run runs p2ctl in-process against the fleet.
func (f *fleet) run(args ...string) result {
	f.t.Helper()
	return runP2ctl(append(f.flags(), args...)...)
}

// ok runs p2ctl and requires success.
func (f *fleet) ok(args ...string) string {
	f.t.Helper()
	r := f.run(args...)
	require.Equal(f.t, 0, r.code, "p2ctl %v: stderr %q stdout %q", args, r.stderr, r.stdout)
	return r.stdout
}

// fails runs p2ctl, requires exit code 1 and one line on stderr containing
// want, and returns that line.
func (f *fleet) fails(want string, args ...string) string {
	f.t.Helper()
	return requireFailure(f.t, f.run(args...), want)
}

func requireFailure(t *testing.T, r result, want string) string {
	t.Helper()
	require.Equal(t, 1, r.code, "stdout %q stderr %q", r.stdout, r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line on stderr: %q", r.stderr)
	require.True(t, strings.HasPrefix(r.stderr, "p2ctl: "), r.stderr)
	require.Contains(t, r.stderr, want)
	return strings.TrimSpace(r.stderr)
}

func runP2ctl(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// write writes a file in the fleet's directory and returns its path.
func (f *fleet) write(name, content string) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	require.NoError(f.t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func (f *fleet) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	f.t.Cleanup(cancel)
	return ctx
}

// manifestYAML is a valid manifest of pod id at artifact version v,
// indented by indent spaces.
func manifestYAML(id string, v, indent int) string {
	lines := []string{
		"id: " + id,
		"launchables:",
		"  app:",
		"    launchable_type: hoist",
		fmt.Sprintf("    location: https://artifacts.example.com/%s_%d.tar.gz", id, v),
		"    digest: " + storetest.ArtifactDigest,
	}
	pad := strings.Repeat(" ", indent)
	return pad + strings.Join(lines, "\n"+pad) + "\n"
}

// rcYAML is an RC of pod hello at artifact version v.
func rcYAML(id string, v, replicas int) string {
	return "id: " + id + "\nmanifest:\n" + manifestYAML("hello", v, 2) +
		fmt.Sprintf("node_selector: env=prod\nreplicas_desired: %d\n", replicas)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// syncBuffer is a buffer the binary writes while the test reads it.
type syncBuffer = syncbuf.Buffer
