// Package etcdtest starts embedded etcd members on loopback for tests: one
// member, or a three-member cluster whose members can be stopped, restarted
// and compacted. Everything it starts is torn down by t.Cleanup.
//
// Members run with fast ticks (TickMs 10, ElectionMs 100) and UnsafeNoFsync,
// which is fine for tests and nothing else.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// TB is the part of testing.TB the package uses; *testing.T and *testing.B
// satisfy it, and Standalone provides one for examples.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// startTimeout bounds how long a member may take to become ready.
const startTimeout = 30 * time.Second

// Cluster is a set of embedded etcd members that form one etcd cluster.
type Cluster struct {
	t       TB
	Members []*Member
}

// Member is one embedded etcd member.
type Member struct {
	Name      string
	Dir       string
	ClientURL url.URL
	PeerURL   url.URL

	mu      sync.Mutex
	etcd    *embed.Etcd
	initial string
	state   string
	opts    []Option
}

// New starts a single-member cluster.
func New(t TB) *Cluster { return NewCluster(t, 1) }

// NewCluster starts an n-member cluster on loopback ports chosen by the
// operating system and waits until every member is ready.
func NewCluster(t TB, n int) *Cluster { return NewClusterWith(t, n) }

// NewClusterWith starts an n-member cluster like NewCluster, each member
// configured by opts.
func NewClusterWith(t TB, n int, opts ...Option) *Cluster {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		c, err := startCluster(t, n, opts)
		if err == nil {
			return c
		}
		lastErr = err
		// A port picked by the OS may have been taken between picking and
		// binding; try again with fresh ports.
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("etcdtest: start %d-member cluster: %v", n, lastErr)
	return nil
}

func startCluster(t TB, n int, opts []Option) (*Cluster, error) {
	c := &Cluster{t: t}
	var peers []string
	for i := 0; i < n; i++ {
		cp, err := freePort()
		if err != nil {
			return nil, err
		}
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			Dir:       t.TempDir(),
			ClientURL: url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cp)},
			PeerURL:   url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", pp)},
			state:     embed.ClusterStateFlagNew,
			opts:      opts,
		}
		c.Members = append(c.Members, m)
		peers = append(peers, m.Name+"="+m.PeerURL.String())
	}
	initial := strings.Join(peers, ",")
	errs := make(chan error, n)
	for _, m := range c.Members {
		m.initial = initial
		go func(m *Member) { errs <- m.start() }(m)
	}
	var firstErr error
	for range c.Members {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	t.Cleanup(c.stopAll)
	if firstErr != nil {
		c.stopAll()
		return nil, firstErr
	}
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (m *Member) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.Dir
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	cfg.UnsafeNoFsync = true
	cfg.ListenClientUrls = []url.URL{m.ClientURL}
	cfg.AdvertiseClientUrls = []url.URL{m.ClientURL}
	cfg.ListenPeerUrls = []url.URL{m.PeerURL}
	cfg.AdvertisePeerUrls = []url.URL{m.PeerURL}
	cfg.InitialCluster = m.initial
	cfg.InitialClusterToken = "etcdtest"
	cfg.ClusterState = m.state
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.WatchProgressNotifyInterval = time.Second
	for _, o := range m.opts {
		o(cfg)
	}
	return cfg
}

func (m *Member) start() error {
	e, err := embed.StartEtcd(m.config())
	if err != nil {
		return fmt.Errorf("member %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("member %s: %w", m.Name, err)
	case <-time.After(startTimeout):
		e.Close()
		return fmt.Errorf("member %s: not ready after %s", m.Name, startTimeout)
	}
	m.mu.Lock()
	m.etcd = e
	// Once started, a restart rejoins the existing cluster.
	m.state = embed.ClusterStateFlagExisting
	m.mu.Unlock()
	return nil
}

// Endpoint is the member's client URL.
func (m *Member) Endpoint() string { return m.ClientURL.String() }

// Running reports whether the member is started.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil
}

// Stop stops the member; its data directory is kept for Restart.
func (m *Member) Stop(t TB) {
	t.Helper()
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Restart starts a stopped member again with its data directory.
func (m *Member) Restart(t TB) {
	t.Helper()
	if m.Running() {
		t.Fatalf("etcdtest: member %s is running", m.Name)
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		// The old listeners may take a moment to be released.
		if err = m.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("etcdtest: restart %s: %v", m.Name, err)
}

// IsLeader reports whether the member is running and is the raft leader.
func (m *Member) IsLeader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil && m.etcd.Server.Leader() == m.etcd.Server.MemberID()
}

// Server returns the running embedded server, or nil when stopped.
func (m *Member) Server() *embed.Etcd {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd
}

func (c *Cluster) stopAll() {
	for _, m := range c.Members {
		m.Stop(c.t)
	}
}

// Endpoints lists the client URLs of every member, running or not.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoint())
	}
	return eps
}

// Client returns a client for every member, closed by t.Cleanup.
func (c *Cluster) Client(t TB) *clientv3.Client {
	t.Helper()
	return c.ClientFor(t, c.Endpoints()...)
}

// ClientFor returns a client for the given endpoints, closed by t.Cleanup.
func (c *Cluster) ClientFor(t TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := newClient(endpoints)
	if err != nil {
		t.Fatalf("etcdtest: client for %v: %v", endpoints, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// NewClient returns a client for every member; the caller closes it.
func (c *Cluster) NewClient() (*clientv3.Client, error) { return newClient(c.Endpoints()) }

func newClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// Leader waits until some running member is the leader and returns it.
func (c *Cluster) Leader(t TB) *Member {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			if m.IsLeader() {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("etcdtest: no leader after %s", startTimeout)
	return nil
}

// Compact compacts the key-value history up to rev (0: the current
// revision) and waits until the compaction is applied.
func (c *Cluster) Compact(t TB, rev int64) int64 {
	t.Helper()
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if rev == 0 {
		resp, err := cli.Get(ctx, "\x00compact-probe")
		if err != nil {
			t.Fatalf("etcdtest: read revision: %v", err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("etcdtest: compact %d: %v", rev, err)
	}
	return rev
}

// Standalone starts a single-member cluster outside a test, for runnable
// examples and shared benchmark fixtures. It panics if etcd cannot start;
// stop removes the member and its directory.
func Standalone() (c *Cluster, stop func()) {
	sa := &standalone{}
	c = New(sa)
	return c, sa.run
}

type standalone struct {
	mu       sync.Mutex
	cleanups []func()
}

func (s *standalone) Helper() {}

func (s *standalone) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (s *standalone) Cleanup(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, fn)
}

func (s *standalone) TempDir() string {
	dir, err := os.MkdirTemp("", "etcdtest-")
	if err != nil {
		panic(err)
	}
	s.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (s *standalone) run() {
	s.mu.Lock()
	fns := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
