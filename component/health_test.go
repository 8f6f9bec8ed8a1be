package component_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// logged reports whether obs has an entry at level whose message is msg.
func logged(obs *observer.ObservedLogs, level zapcore.Level, msg string) bool {
	return obs.FilterLevelExact(level).FilterMessage(msg).Len() > 0
}

// A busy metrics port is a warning, not a failure; once the port is free
// the metrics are served.
func TestServeMetricsOrRetryBusyPort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := busy.Addr().String()
	core, obs := observer.New(zap.InfoLevel)
	done, err := component.ServeMetricsOrRetry(ctx, addr, component.NewRegistry(), zap.New(core), 20*time.Millisecond)
	require.NoError(t, err, "a busy port does not fail the start")
	require.True(t, logged(obs, zap.WarnLevel, "metrics address in use; serving no metrics for now and retrying in the background"))

	require.NoError(t, busy.Close())
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "metrics never served once the port was free")
	require.True(t, logged(obs, zap.InfoLevel, "metrics address free again; serving metrics"))
	<-done

	_, err = component.ServeMetricsOrRetry(ctx, "not an address", component.NewRegistry(), zap.NewNop(), time.Second)
	require.ErrorContains(t, err, "--metrics-addr", "a bad address still fails at once")
}

// While etcd does not answer a warning is logged, and an info line once it
// answers again.
func TestWatchEtcdLogsOutageAndRecovery(t *testing.T) {
	e := etcdtest.New(t)
	cli2 := e.Client(t)
	core, obs := observer.New(zap.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		component.WatchEtcd(ctx, cli2, 50*time.Millisecond, zap.New(core))
	}()
	defer func() { cancel(); <-done }()

	never := func() bool { return obs.FilterLevelExact(zap.WarnLevel).Len() > 0 }
	require.Never(t, never, 300*time.Millisecond, 20*time.Millisecond, "no warning while etcd answers")
	e.Members[0].Stop(t)
	require.Eventually(t, func() bool {
		return logged(obs, zap.WarnLevel, "etcd unreachable; working from what was last read, and retrying")
	}, 30*time.Second, 20*time.Millisecond)
	e.Members[0].Restart(t)
	require.Eventually(t, func() bool { return logged(obs, zap.InfoLevel, "etcd reachable again") }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, obs.FilterMessage("etcd unreachable; working from what was last read, and retrying").Len(), "one warning per outage")
}
