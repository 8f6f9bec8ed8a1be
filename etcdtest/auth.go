package etcdtest

import (
	"context"
	"crypto/tls"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// WithAuth turns authentication on once the member runs, with a root user
// whose password is rootPassword (see SecureCluster.Root).
func WithAuth(rootPassword string) SecureOption {
	return func(s *secureOptions) { s.rootPassword = rootPassword }
}

// EnableAuth turns etcd authentication on through client: it creates the
// root user with rootPassword and the root role, then enables
// authentication. Afterwards only authenticated clients (see ClientAs) get
// anything done.
func EnableAuth(t TB, client *clientv3.Client, rootPassword string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := client.UserAdd(ctx, "root", rootPassword); err != nil {
		t.Fatalf("etcdtest: add root user: %v", err)
	}
	if _, err := client.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatalf("etcdtest: grant root role: %v", err)
	}
	if _, err := client.AuthEnable(ctx); err != nil {
		t.Fatalf("etcdtest: enable auth: %v", err)
	}
}

// ClientAs returns a client that authenticates as user, closed by
// t.Cleanup. It fails the test when etcd refuses the credentials.
func (c *Cluster) ClientAs(t TB, user, password string) *clientv3.Client {
	t.Helper()
	return clientAs(t, c.Endpoints(), nil, user, password)
}

func clientAs(t TB, endpoints []string, tlsCfg *tls.Config, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		TLS:         tlsCfg,
		Username:    user,
		Password:    password,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: client for %v as %q: %v", endpoints, user, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}
