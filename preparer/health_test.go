package preparer_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

func TestDefaultHealthChecker(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_status" || !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	host, portStr, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	port, _ := strconv.Atoi(portStr)

	m := testManifest("web", 1)
	m.Status = &manifest.StatusCheck{HTTP: true, Port: port}
	c := preparer.DefaultHealthChecker{Host: host}
	ctx := context.Background()
	h, err := c.Check(ctx, m, nil)
	require.NoError(t, err)
	require.Equal(t, status.Passing, h)
	healthy.Store(false)
	h, err = c.Check(ctx, m, nil)
	require.Equal(t, status.Critical, h)
	require.ErrorContains(t, err, "503")

	// Without an HTTP check: passing while every process runs.
	m.Status = nil
	h, _ = c.Check(ctx, m, []status.Process{{Launchable: "app", EntryPoint: "bin/launch", PID: 42}})
	require.Equal(t, status.Passing, h)
	h, err = c.Check(ctx, m, []status.Process{{Launchable: "app", EntryPoint: "bin/launch"}})
	require.Equal(t, status.Critical, h)
	require.ErrorContains(t, err, "bin/launch")
	h, _ = c.Check(ctx, m, nil)
	require.Equal(t, status.Unknown, h)
}
