package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/internal/controller"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// controllerProc is one controller process: the farms over one fleet
// view, on an etcd client of its own, with a lease of --lease-ttl.
type controllerProc struct {
	name    string
	cli     *clientv3.Client
	cancel  context.CancelFunc
	done    chan struct{}
	crashed atomic.Bool // its errors are the crash's, not failures
}

// startController runs the controller's farms over one fleet view on cli
// until the simulation stops or crash is called.
func (s *sim) startController(name string, cli *clientv3.Client) *controllerProc {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &controllerProc{name: name, cli: cli, cancel: cancel, done: make(chan struct{})}
	s.wg.Go(func() {
		defer close(c.done)
		err := controller.Run(ctx, cli, nil,
			farm.WithPrefix(s.cfg.prefix), farm.WithLogger(s.log.Named(name)),
			farm.WithIdentity("fleetsim/"+name), farm.WithTTL(s.cfg.leaseTTL),
			farm.WithBackoff(200*time.Millisecond, 5*time.Second))
		if err != nil && !c.crashed.Load() {
			s.fail(fmt.Errorf("%s: %w", name, err))
		}
	})
	return c
}

// crash stops the controller as a crash would: its client is closed, so
// that its lease is neither kept alive nor revoked and runs out after its
// TTL, and its farms are stopped. Their goroutines end in the background
// (their revocation of the lease fails); the simulation waits for them
// when it closes.
func (c *controllerProc) crash() {
	c.crashed.Store(true)
	_ = c.cli.Close()
	c.cancel()
}
