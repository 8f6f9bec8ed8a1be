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

var urlRE = regexp.MustCompile(`dashboard: (http://\S+)`)

func TestServesAndStops(t *testing.T) {
	c := etcdtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--etcd", strings.Join(c.Endpoints(), ","), "--listen", "127.0.0.1:0", "--log-level", "error"}, &out, &errOut)
	}()
	var url string
	require.Eventually(t, func() bool {
		m := urlRE.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 20*time.Second, 10*time.Millisecond, "the URL printed; stderr: %s", errOut.String())
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	for _, page := range []string{"", "controllers", "rolls", "holds", "audit"} {
		resp, err := http.Get(url + page)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", page, body)
		assert.Contains(t, string(body), "read-only")
	}
	// An event stream open at shutdown does not keep the binary running.
	resp, err := http.Get(url + "events")
	require.NoError(t, err)
	defer resp.Body.Close()
	cancel()
	select {
	case c := <-code:
		assert.Equal(t, 0, c, errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatal("the dashboard did not stop")
	}
}

func TestAllowWritesNeedsAUser(t *testing.T) {
	var out, errOut syncBuffer
	code := run(context.Background(), []string{"--allow-writes", "--etcd", "127.0.0.1:1"}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "--allow-writes needs --etcd-user")
}
