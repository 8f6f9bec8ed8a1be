package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/internal/syncbuf"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// envHTTPApp makes the test binary a pod's app: it serves /_status on
// $P2_NODE_IP:$PORT, answering 200 and the node's name, or 500 when
// $HEALTHY is "no".
const envHTTPApp = "P2KIT_PREPARER_TEST_HTTP_APP"

func TestMain(m *testing.M) {
	if os.Getenv(envHTTPApp) != "" {
		os.Exit(httpApp())
	}
	os.Exit(m.Run())
}

func httpApp() int {
	addr := net.JoinHostPort(os.Getenv("P2_NODE_IP"), os.Getenv("PORT"))
	node := os.Getenv("P2_NODE")
	healthy := os.Getenv("HEALTHY") != "no"
	err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprintln(w, node)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// syncBuffer is a buffer the binary writes while the test reads it.
type syncBuffer = syncbuf.Buffer

func freePort(t *testing.T, host string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Two preparers on one host: each health-checks its own node's address
// (--health-host), gives its apps P2_NODE, P2_NODE_IP and --app-env, and
// the second, whose --metrics-addr is busy, warns and works on.
func TestTwoPreparersOnOneHost(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "preparer")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	self, err := os.Executable()
	require.NoError(t, err)

	e := etcdtest.New(t)
	cli := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	loc, dig, err := artifacttest.Write(filepath.Join(t.TempDir(), "web.tar.gz"), map[string]artifacttest.File{
		"bin/launch": {Body: "#!/bin/sh\nexec \"$APP_BIN\"\n", Exec: true},
	})
	require.NoError(t, err)
	port := freePort(t, "127.0.0.2")
	web := &manifest.Manifest{ID: "web", TerminationGracePeriod: 1,
		Status: &manifest.StatusCheck{HTTP: true, Port: port},
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist, Location: loc, Digest: dig,
			Env: map[string]string{envHTTPApp: "1", "PORT": strconv.Itoa(port)}}}}
	selfPod := &manifest.Manifest{ID: preparer.DefaultSelfPodID, Launchables: web.Launchables}

	metrics := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, "127.0.0.1")))
	intents := intent.NewStore(cli)
	logs := map[string]*syncBuffer{}
	for _, n := range []struct{ node, ip, healthy string }{{"n1", "127.0.0.2", "yes"}, {"n2", "127.0.0.3", "no"}} {
		_, err := intents.Set(ctx, n.node, selfPod)
		require.NoError(t, err)
		_, err = intents.Set(ctx, n.node, web)
		require.NoError(t, err)
		root := filepath.Join(t.TempDir(), n.node)
		t.Cleanup(func() {
			l := process.New(root)
			pods, _ := l.Pods()
			for _, p := range pods {
				_ = l.Stop(context.Background(), p, time.Second)
			}
		})
		cmd := exec.Command(bin, "--etcd", e.Endpoints()[0], "--node", n.node, "--pod-root", root,
			"--metrics-addr", metrics, "--health-host", n.ip, "--node-ip", n.ip, "--node-ttl", "2s",
			"--app-env", "APP_BIN="+self, "--app-env", "HEALTHY="+n.healthy)
		logs[n.node] = &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs[n.node], logs[n.node]
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		})
		if n.node == "n1" {
			// n1 binds the metrics port before n2 starts.
			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + metrics + "/metrics")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			}, 30*time.Second, 20*time.Millisecond, "n1 never served metrics: %s", logs["n1"])
		}
	}

	statuses := status.NewPodStatusStore(cli)
	health := func(node string) status.Health {
		o, err := statuses.Get(ctx, node, "web")
		if err != nil {
			return ""
		}
		return o.Value.Health
	}
	// Each preparer checks its own node's app: n1's passes, n2's (which
	// answers 500) fails. With one shared host both would see n1's.
	require.Eventually(t, func() bool { return health("n1") == status.Passing && health("n2") == status.Critical },
		60*time.Second, 50*time.Millisecond, "n1 %q n2 %q\nn1: %s\nn2: %s", health("n1"), health("n2"), logs["n1"], logs["n2"])
	for node, ip := range map[string]string{"n1": "127.0.0.2", "n2": "127.0.0.3"} {
		resp, err := http.Get("http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + "/_status")
		require.NoError(t, err)
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		require.Equal(t, node, strings.TrimSpace(b.String()), "the app on %s got P2_NODE and P2_NODE_IP", ip)
	}
	require.Contains(t, logs["n2"].String(), "metrics address in use")
	nodes, _, err := status.NewNodeStore(cli).List(ctx)
	require.NoError(t, err)
	require.Contains(t, nodes, "n1")
	require.Contains(t, nodes, "n2", "n2 works without its metrics")
	require.EqualValues(t, 2, nodes["n2"].Value.TTLSeconds)
}

func TestAppEnvFlags(t *testing.T) {
	env, err := appEnv("n1", "", "10.0.0.7", []string{"A=1", "B=x=y"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"A": "1", "B": "x=y", "P2_NODE": "n1", "P2_NODE_IP": "10.0.0.7"}, env)
	for arg, want := range map[string]string{"A": "want KEY=VALUE", "=1": "want KEY=VALUE", "P2_NODE=x": "set by --node"} {
		_, err := appEnv("n1", "", "127.0.0.1", []string{arg})
		require.ErrorContains(t, err, want, arg)
	}
	_, err = appEnv("n1", "", "127.0.0.1", []string{"A=1", "A=2"})
	require.ErrorContains(t, err, "given twice")
	_, err = appEnv("n1", "web1.example", "127.0.0.1", nil)
	require.ErrorContains(t, err, "--node-ip")

	var stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"--app-env", "nokey", "--etcd", "127.0.0.1:1", "--node", "n1"}, &stderr))
	require.Contains(t, stderr.String(), "--app-env")
}
