package etcdtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestTLSMember(t *testing.T) {
	files := etcdtest.GenerateTLS(t)
	c := etcdtest.NewSecure(t, etcdtest.WithTLS(files))
	require.Contains(t, c.Endpoints()[0], "https://127.0.0.1:")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := c.Client(t).Put(ctx, "k", "v")
	require.NoError(t, err)

	// Trusting the CA is not enough: the member wants a client certificate.
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(files.CA)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	for name, cfg := range map[string]*tls.Config{
		"no client certificate": {RootCAs: pool, MinVersion: tls.VersionTLS12},
		"plain text":            nil,
	} {
		t.Run(name, func(t *testing.T) {
			cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: cfg, DialTimeout: time.Second, Logger: zap.NewNop()})
			require.NoError(t, err)
			defer cli.Close()
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err = cli.Get(short, "k")
			require.Error(t, err)
		})
	}
}

func TestAuthMember(t *testing.T) {
	files := etcdtest.GenerateTLS(t)
	c := etcdtest.NewSecure(t, etcdtest.WithTLS(files), etcdtest.WithAuth("secret"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	_, err := c.Client(t).Put(ctx, "k", "v")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "the client certificate's common name is no user")
	_, err = c.Root(t).Put(ctx, "k", "v")
	require.NoError(t, err)
	tlsCfg, err := files.ClientTLS()
	require.NoError(t, err)
	_, err = clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: tlsCfg, Username: "root", Password: "wrong",
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.ErrorIs(t, err, rpctypes.ErrAuthFailed)
}
