package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a buffer the binary writes while the test reads it.
type syncBuffer = syncbuf.Buffer

var dashRE = regexp.MustCompile(`dashboard on (http://\S+)`)

// TestDashboardAddr: --dashboard-addr serves the web UI read-only from the
// controller process, and it stops with the controller.
func TestDashboardAddr(t *testing.T) {
	c := etcdtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--etcd", strings.Join(c.Endpoints(), ","), "--metrics-addr", "",
			"--log-level", "error", "--dashboard-addr", "127.0.0.1:0"}, &stderr)
	}()
	var url string
	require.Eventually(t, func() bool {
		if m := dashRE.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		return url != ""
	}, 30*time.Second, 10*time.Millisecond, "the dashboard's URL; stderr: %s", stderr.String())
	resp, err := http.Get(url + "holds")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "read-only")
	resp, err = http.Post(url+"holds/x/release", "application/x-www-form-urlencoded", strings.NewReader("csrf=x"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	cancel()
	select {
	case c := <-code:
		assert.Equal(t, 0, c, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the controller did not stop")
	}
}
