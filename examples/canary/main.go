// Command canary is a fifth p2kit entity kind, written only against
// p2kit's public packages: a canary runs one pod of a manifest on one of
// the nodes its label selector picks, and moves it when that node stops
// matching. Run any number of copies: they share the canaries through
// etcd locks, and one takes over when another stops.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/farm"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	ctx, stop := component.SignalContext()
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "canary: %v\n", err)
		os.Exit(1)
	}
}

// run joins a farm.Manager with the canary farm until ctx ends. The etcd
// flags (TLS and authentication included), --prefix, --log-level and
// --metrics-addr are the reference binaries' own (component.Daemon).
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := pflag.NewFlagSet("canary", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var d component.Daemon
	d.Register(fs, "127.0.0.1:9103")
	ttl := fs.Int("lease-ttl", 10, "seconds a dead process keeps its canaries before another takes them")
	resync := fs.Duration("resync", 30*time.Second, "how often every canary is reconciled without a change")
	identity := fs.String("identity", "", "name of this process in logs (default host/pid)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	prefix, err := component.CheckPrefix(d.Prefix)
	if err != nil {
		return err
	}
	rt, err := d.Start(ctx, "canary")
	if err != nil {
		return err
	}
	defer rt.Close()
	opts := []farm.Option{farm.WithPrefix(prefix), farm.WithLogger(rt.Log), farm.WithTTL(*ttl),
		farm.WithResync(*resync), farm.WithActor("canary-farm"), farm.WithRegistry(rt.Registry)}
	if *identity != "" {
		opts = append(opts, farm.WithIdentity(*identity))
	}
	return runManager(ctx, rt.Client, opts...)
}

// runManager runs the canary farm in a farm.Manager, beside any other farm
// a program adds, until ctx ends.
func runManager(ctx context.Context, cli *clientv3.Client, opts ...farm.Option) error {
	m, err := farm.NewManager(cli, opts...)
	if err != nil {
		return err
	}
	canaries, err := NewFarm(cli, m.Options()...)
	if err != nil {
		return err
	}
	if err := m.Add("canary farm", canaries); err != nil {
		return err
	}
	return m.Run(ctx)
}
