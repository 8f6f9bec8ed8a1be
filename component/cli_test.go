package component_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// A read etcd answers "unavailable" is tried MaxUnaryRetries times in all,
// RetryWait apart; the etcd client's default is 100 times, 25 ms apart.
func TestDialBoundsRetries(t *testing.T) {
	e := etcdtest.New(t)
	var tries atomic.Int64
	unavailable := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if r, ok := req.(*etcdserverpb.RangeRequest); ok && string(r.Key) == "/unavailable" {
			tries.Add(1)
			return status.Error(codes.Unavailable, "etcdserver: request timed out")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	d := component.Etcd{Endpoints: strings.Join(e.Endpoints(), ","), DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(unavailable)}}
	c, err := d.Dial(t.Context(), nil)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Get(ctx, "/unavailable")
	require.Error(t, err)
	require.Equal(t, int64(component.MaxUnaryRetries), tries.Load(), "tries of one read")
	require.GreaterOrEqual(t, time.Since(start), (component.MaxUnaryRetries-1)*component.RetryWait*9/10, "the tries were not RetryWait apart")
}
