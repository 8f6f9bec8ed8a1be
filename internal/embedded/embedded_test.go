package embedded_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/internal/embedded"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestStart(t *testing.T) {
	s, err := embedded.Start(t.TempDir(), nil)
	require.NoError(t, err)
	defer s.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint}})
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.Put(context.Background(), "k", "v")
	require.NoError(t, err)
	resp, err := http.Get(s.MetricsURL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.True(t, strings.Contains(string(body), "etcd_server_has_leader"))
}

func Example() {
	dir, _ := osTempDir()
	s, err := embedded.Start(dir, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(strings.HasPrefix(s.Endpoint, "http://127.0.0.1:"))
	// Output: true
}

func osTempDir() (string, error) { return os.MkdirTemp("", "embedded-example-") }
