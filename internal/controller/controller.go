// Package controller runs the four farms of p2kit's reference controller
// (daemon sets, replication controllers, rolls, pod clusters) in one
// process through a farm.Manager: one session, one fleet view. The
// controller binary and the quickstart both run it.
package controller

import (
	"context"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Run runs every farm until ctx ends. syncer is the pod cluster syncer;
// nil runs no pod cluster farm. opts configure every farm (prefix, logger,
// registry, TTL, ...).
func Run(ctx context.Context, client *clientv3.Client, syncer podcluster.Syncer, opts ...farm.Option) error {
	m, err := farm.NewManager(client, opts...)
	if err != nil {
		return err
	}
	log := farm.Configure("controller", opts...).Log
	with := func(name string) []farm.Option { return append(m.Options(), farm.WithLogger(log.Named(name))) }
	ds, err := daemonset.NewFarm(client, with("ds-farm")...)
	if err != nil {
		return err
	}
	rcs, err := rc.NewFarm(client, with("rc-farm")...)
	if err != nil {
		return err
	}
	rolls, err := roll.NewFarm(client, with("roll-farm")...)
	if err != nil {
		return err
	}
	_ = m.Add("daemon set farm", ds)
	_ = m.Add("rc farm", rcs)
	_ = m.Add("roll farm", rolls)
	if syncer != nil {
		pcs, err := podcluster.NewFarm(client, syncer, with("pc-farm")...)
		if err != nil {
			return err
		}
		_ = m.Add("pod cluster farm", pcs)
	}
	return m.Run(ctx)
}
