package component_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestServeMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := component.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "p2kit_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	addr, err := component.ServeMetrics(ctx, "127.0.0.1:0", reg, zap.NewNop())
	require.NoError(t, err)
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "p2kit_test_total 1")
	require.Contains(t, string(body), "go_goroutines")

	_, err = component.ServeMetrics(ctx, "not an address", reg, zap.NewNop())
	require.ErrorContains(t, err, "--metrics-addr")
}

func TestDial(t *testing.T) {
	e := etcdtest.New(t)
	good := component.Etcd{Endpoints: strings.Join(e.Endpoints(), ","), DialTimeout: 5 * time.Second}
	c, err := good.Dial(context.Background(), nil)
	require.NoError(t, err)
	c.Close()

	bad := component.Etcd{Endpoints: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond}
	_, err = bad.Dial(context.Background(), nil)
	require.ErrorContains(t, err, "127.0.0.1:1 unreachable")

	_, err = (&component.Etcd{Endpoints: "127.0.0.1:1", DialTimeout: time.Second, Cert: "x.pem"}).Dial(context.Background(), nil)
	require.ErrorContains(t, err, "--etcd-cert and --etcd-key go together")

	p, err := component.CheckPrefix("/p2/")
	require.NoError(t, err)
	require.Equal(t, "/p2", p)
	_, err = component.CheckPrefix("p2")
	require.Error(t, err)
}
