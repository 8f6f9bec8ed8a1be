// Command dashboard serves p2kit's web UI: the fleet, its controllers,
// rolls, failsafe holds and audit log, live from etcd. It is read-only
// unless --allow-writes is given, and then only releases failsafe holds,
// as the etcd user it authenticates as (--etcd-user), after a
// confirmation. It listens on loopback by default.
//
//	go run ./examples/dashboard --etcd 127.0.0.1:2379
//	go run ./examples/dashboard --allow-writes --etcd-user alice
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/dashboard"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

func main() {
	ctx, stop := component.SignalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := runErr(ctx, args, stdout, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dashboard: %v\n", err)
		return 1
	}
	return 0
}

func runErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("dashboard", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var d component.Daemon
	d.Register(fs, "")
	listen := fs.String("listen", dashboard.DefaultListen, "address the web UI listens on (loopback by default)")
	writes := fs.Bool("allow-writes", false, "offer the release of failsafe holds, written and audited as --etcd-user (whose role must allow it)")
	base := fs.String("base-path", "/", "URL path the UI is served under, behind a reverse proxy")
	pageSize := fs.Int("page-size", dashboard.DefaultPageSize, "rows per page of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	prefix, err := component.CheckPrefix(d.Prefix)
	if err != nil {
		return err
	}
	if *writes && d.Etcd.User == "" {
		return errors.New("--allow-writes needs --etcd-user: releases are written as that etcd user and audited with its name")
	}
	rt, err := d.Start(ctx, "dashboard")
	if err != nil {
		return err
	}
	defer rt.Close()
	opts := []dashboard.Option{dashboard.WithPrefix(prefix), dashboard.WithLogger(rt.Log),
		dashboard.WithBasePath(*base), dashboard.WithPageSize(*pageSize)}
	if *writes {
		opts = append(opts, dashboard.AllowWrites(d.Etcd.User))
	}
	h, err := dashboard.New(rt.Client, opts...)
	if err != nil {
		return err
	}
	addr, done, err := dashboard.Serve(ctx, *listen, h, rt.Log)
	if err != nil {
		return err
	}
	rt.Log.Info("dashboard serving", zap.String("url", "http://"+addr+*base), zap.Bool("writes", *writes), zap.String("prefix", prefix))
	fmt.Fprintf(stdout, "dashboard: http://%s%s\n", addr, *base)
	if err := <-done; err != nil {
		return err
	}
	rt.Log.Info("dashboard stopped")
	return nil
}
