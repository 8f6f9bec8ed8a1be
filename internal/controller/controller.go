// Package controller runs the four farms of p2kit's reference controller
// (daemon sets, replication controllers, rolls, pod clusters) in one
// process over one shared fleet view. The controller binary and the
// quickstart both run it.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Run runs every farm until ctx ends. syncer is the pod cluster syncer;
// nil runs no pod cluster farm. opts configure every farm (prefix, logger,
// registry, TTL, ...); the fleet view is shared.
func Run(ctx context.Context, client *clientv3.Client, syncer podcluster.Syncer, opts ...farm.Option) error {
	cfg := farm.Configure("controller", opts...)
	holds := failsafe.NewHolds(client, "controller/fleet", failsafe.WithLogger(cfg.Log),
		failsafe.WithRegistry(cfg.Registry), failsafe.WithPrefix(cfg.Prefix))
	view := fleet.New(client, cfg.Prefix, holds, cfg.Log.Named("fleet"))
	shared := append(opts[:len(opts):len(opts)], farm.WithFleet(view))

	type runner interface{ Run(context.Context) error }
	var farms []runner
	ds, err := daemonset.NewFarm(client, append(shared, farm.WithLogger(cfg.Log.Named("ds-farm")))...)
	if err != nil {
		return err
	}
	rcs, err := rc.NewFarm(client, append(shared, farm.WithLogger(cfg.Log.Named("rc-farm")))...)
	if err != nil {
		return err
	}
	rolls, err := roll.NewFarm(client, append(shared, farm.WithLogger(cfg.Log.Named("roll-farm")))...)
	if err != nil {
		return err
	}
	farms = append(farms, ds, rcs, rolls)
	if syncer != nil {
		pcs, err := podcluster.NewFarm(client, syncer, append(shared, farm.WithLogger(cfg.Log.Named("pc-farm")))...)
		if err != nil {
			return err
		}
		farms = append(farms, pcs)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(farms)+1)
	wg.Go(func() {
		if err := view.Run(ctx); err != nil {
			errs <- fmt.Errorf("fleet view: %w", err)
		}
	})
	for _, f := range farms {
		wg.Go(func() {
			if err := f.Run(ctx); err != nil {
				errs <- err
			}
		})
	}
	cfg.Log.Info("controller running", zap.Int("farms", len(farms)))
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		cfg.Log.Error("a farm stopped; stopping the controller", zap.Error(first))
	}
	cancel()
	wg.Wait()
	if first != nil && !errors.Is(first, context.Canceled) {
		return first
	}
	return nil
}
