package farm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Runnable is a farm a Manager runs: the built-in farms, a Controller, or
// anything that runs until ctx ends and returns nil then.
type Runnable interface {
	Run(ctx context.Context) error
}

// Manager runs any set of farms in one process with one etcd session
// (lease), one fleet view and one metrics registry, and stops them all
// together: when ctx ends or one of them fails. Build each farm with
// Options, add it with Add, then Run.
type Manager struct {
	client   *clientv3.Client
	cfg      Config
	opts     []Option
	view     *fleet.View
	sessions *sessions

	mu    sync.Mutex
	farms []named
	ran   bool
}

type named struct {
	name string
	r    Runnable
}

// NewManager returns a manager whose farms share opts (prefix, logger,
// registry, TTL, ...), one fleet view and one session.
func NewManager(client *clientv3.Client, opts ...Option) (*Manager, error) {
	if client == nil {
		return nil, errors.New("farm manager: nil etcd client")
	}
	cfg := Configure("manager", opts...)
	m := &Manager{client: client, cfg: cfg}
	m.view = cfg.Fleet
	if m.view == nil {
		holds := failsafe.NewHolds(client, "controller/fleet", failsafe.WithLogger(cfg.Log),
			failsafe.WithRegistry(cfg.Registry), failsafe.WithPrefix(cfg.Prefix))
		m.view = fleet.New(client, cfg.Prefix, holds, cfg.Log.Named("fleet"))
	}
	m.sessions = newSessions(client, cfg.TTL, cfg.MinBackoff, cfg.Log)
	m.opts = append(opts[:len(opts):len(opts)], WithFleet(m.view),
		func(c *Config) { c.sessions = m.sessions })
	return m, nil
}

// Options are the options to build each farm of the manager with: the
// manager's own, its fleet view and its session.
func (m *Manager) Options() []Option { return m.opts[:len(m.opts):len(m.opts)] }

// Fleet is the fleet view every farm of the manager reads.
func (m *Manager) Fleet() *fleet.View { return m.view }

// Add adds a farm, named in logs and errors. Add before Run.
func (m *Manager) Add(name string, r Runnable) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ran {
		return fmt.Errorf("farm manager: add %s: already running", name)
	}
	m.farms = append(m.farms, named{name: name, r: r})
	return nil
}

// Run runs the fleet view and every farm until ctx ends, and returns nil
// then; or until one of them fails, and returns that failure once every
// other has stopped. At the end the session's lease is revoked, so that
// other processes take over the entities at once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ran {
		m.mu.Unlock()
		return errors.New("farm manager: Run called twice")
	}
	m.ran = true
	farms := m.farms
	m.mu.Unlock()
	defer m.sessions.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(farms)+1)
	if m.cfg.Fleet == nil {
		wg.Go(func() {
			if err := m.view.Run(ctx); err != nil {
				errs <- fmt.Errorf("fleet view: %w", err)
			}
		})
	}
	for _, f := range farms {
		wg.Go(func() {
			if err := f.r.Run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", f.name, err)
			}
		})
	}
	m.cfg.Log.Info("farm manager running", zap.Int("farms", len(farms)))
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		m.cfg.Log.Error("a farm stopped; stopping every farm", zap.Error(first))
	}
	cancel()
	wg.Wait()
	if first != nil && !errors.Is(first, context.Canceled) {
		return first
	}
	return nil
}
