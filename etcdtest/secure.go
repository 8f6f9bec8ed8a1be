package etcdtest

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// SecureOption configures a member started by NewSecure.
type SecureOption func(*secureOptions)

type secureOptions struct {
	tls          *TLSFiles
	rootPassword string
}

// SecureCluster is a single member for testing etcd security: client TLS
// (WithTLS) and authentication (WithAuth, or enabled later by the test).
// It hashes passwords with the lowest bcrypt cost, so authenticating is
// fast. It cannot be restarted.
type SecureCluster struct {
	*Cluster
	// Files are the TLS files of WithTLS; nil without TLS.
	Files *TLSFiles
	// RootPassword is the root user's password of WithAuth; empty without.
	RootPassword string
}

// NewSecure starts a single member with opts and waits until it is ready
// (and, with WithAuth, authentication is on).
func NewSecure(t TB, opts ...SecureOption) *SecureCluster {
	t.Helper()
	var o secureOptions
	for _, opt := range opts {
		opt(&o)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		c, err := startSecure(t, o)
		if err == nil {
			if o.rootPassword != "" {
				EnableAuth(t, c.Client(t), o.rootPassword)
			}
			return c
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("etcdtest: start secure member: %v", lastErr)
	return nil
}

func startSecure(t TB, o secureOptions) (*SecureCluster, error) {
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if o.tls != nil {
		scheme = "https"
	}
	m := &Member{
		Name:      "m0",
		Dir:       t.TempDir(),
		ClientURL: url.URL{Scheme: scheme, Host: fmt.Sprintf("127.0.0.1:%d", cp)},
		PeerURL:   url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", pp)},
		state:     embed.ClusterStateFlagNew,
	}
	m.initial = m.Name + "=" + m.PeerURL.String()
	cfg := m.config()
	cfg.BcryptCost = 4 // bcrypt.MinCost: fast to authenticate, fine for tests
	if o.tls != nil {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile:       o.tls.ServerCert,
			KeyFile:        o.tls.ServerKey,
			TrustedCAFile:  o.tls.CA,
			ClientCertAuth: true,
		}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("member %s: %w", m.Name, err)
	case <-time.After(startTimeout):
		e.Close()
		return nil, fmt.Errorf("member %s: not ready after %s", m.Name, startTimeout)
	}
	m.mu.Lock()
	m.etcd = e
	m.state = embed.ClusterStateFlagExisting
	m.mu.Unlock()
	c := &Cluster{t: t, Members: []*Member{m}}
	t.Cleanup(c.stopAll)
	return &SecureCluster{Cluster: c, Files: o.tls, RootPassword: o.rootPassword}, nil
}

// Client returns a client (with the client certificate under WithTLS) that
// authenticates as nobody, closed by t.Cleanup.
func (c *SecureCluster) Client(t TB) *clientv3.Client {
	t.Helper()
	return c.ClientAs(t, "", "")
}

// Root returns a client authenticated as root (see WithAuth), closed by
// t.Cleanup.
func (c *SecureCluster) Root(t TB) *clientv3.Client {
	t.Helper()
	return c.ClientAs(t, "root", c.RootPassword)
}

// ClientAs returns a client (with the client certificate under WithTLS)
// that authenticates as user (nobody when empty), closed by t.Cleanup.
func (c *SecureCluster) ClientAs(t TB, user, password string) *clientv3.Client {
	t.Helper()
	var tlsCfg *tls.Config
	if c.Files != nil {
		var err error
		if tlsCfg, err = c.Files.ClientTLS(); err != nil {
			t.Fatalf("etcdtest: client TLS: %v", err)
		}
	}
	return clientAs(t, c.Endpoints(), tlsCfg, user, password)
}

// SecureStandalone is NewSecure outside a test, for runnable examples, as
// Standalone is New; stop removes the member and its directory.
func SecureStandalone(opts ...SecureOption) (c *SecureCluster, stop func()) {
	sa := &standalone{}
	c = NewSecure(sa, opts...)
	return c, sa.run
}
