// Command controller is p2kit's reference controller: the daemon set,
// replication controller, roll and pod cluster farms in one process.
// Several copies may run at once; they share the entities through etcd
// locks, and a copy that dies hands its entities over when its lease ends.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/dashboard"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/internal/controller"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/retention"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

func main() {
	ctx, stop := component.SignalContext()
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the controller until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	err := runErr(ctx, args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return 1
	}
	return 0
}

func runErr(ctx context.Context, args []string, stderr io.Writer) error {
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var d component.Daemon
	d.Register(fs, "127.0.0.1:9102")
	pcSyncer := fs.String("pc-syncer", "", "pod cluster syncer, file:<dir> (empty: no pod cluster farm)")
	ttl := fs.Int("lease-ttl", 10, "seconds a dead controller keeps its entities before another takes them")
	resync := fs.Duration("resync", 30*time.Second, "how often every entity is reconciled without a change")
	identity := fs.String("identity", "", "name of this controller in logs (default host/pid)")
	auditMaxAge := fs.Duration("audit-max-age", retention.DefaultAuditMaxAge, "audit records older than this are deleted (0: no age limit)")
	auditMaxRecords := fs.Int("audit-max-records", retention.DefaultAuditMaxRecords, "beyond this many audit records the oldest are deleted (0: no count limit)")
	statusGrace := fs.Duration("status-grace", retention.DefaultStatusGrace, "how long the status record of a removed pod, a finished roll or a deleted controller is kept")
	dashAddr := fs.String("dashboard-addr", "", "serve the read-only web UI on this address, such as "+dashboard.DefaultListen+" (empty: none)")
	retentionEvery := fs.Duration("retention-interval", retention.DefaultInterval, "how often the controller holding the retention lock prunes audit and status records")
	if err := fs.Parse(args); err != nil {
		return err
	}
	prefix, err := component.CheckPrefix(d.Prefix)
	if err != nil {
		return err
	}
	var syncer podcluster.Syncer
	if *pcSyncer != "" {
		if syncer, err = podcluster.ParseSyncer(*pcSyncer); err != nil {
			return fmt.Errorf("--pc-syncer: %w", err)
		}
	}
	rt, err := d.Start(ctx, "controller")
	if err != nil {
		return err
	}
	defer rt.Close()
	log, client, reg := rt.Log, rt.Client, rt.Registry
	opts := []farm.Option{
		farm.WithPrefix(prefix), farm.WithLogger(log), farm.WithRegistry(reg),
		farm.WithTTL(*ttl), farm.WithResync(*resync),
	}
	if *identity != "" {
		opts = append(opts, farm.WithIdentity(*identity))
	}
	if *auditMaxAge < 0 || *auditMaxRecords < 0 || *statusGrace < 0 || *retentionEvery <= 0 {
		return errors.New("--audit-max-age, --audit-max-records and --status-grace must not be negative, --retention-interval must be positive")
	}
	cleaner, err := retention.New(client, retention.WithPrefix(prefix), retention.WithLogger(log.Named("retention")),
		retention.WithRegistry(reg), retention.WithTTL(*ttl), retention.WithInterval(*retentionEvery),
		retention.WithAudit(audit.Retention{MaxAge: *auditMaxAge, MaxRecords: *auditMaxRecords}),
		retention.WithStatusGrace(*statusGrace))
	if err != nil {
		return err
	}
	log.Info("controller starting", zap.Strings("etcd", component.SplitEndpoints(d.Etcd.Endpoints)), zap.String("prefix", prefix))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = cleaner.Run(cctx) })
	if *dashAddr != "" {
		// The controller's etcd user is no person: its UI never writes.
		h, err := dashboard.New(client, dashboard.WithPrefix(prefix), dashboard.WithLogger(log.Named("dashboard")))
		if err != nil {
			return err
		}
		addr, done, err := dashboard.Serve(cctx, *dashAddr, h, log.Named("dashboard"))
		if err != nil {
			return fmt.Errorf("--dashboard-addr: %w", err)
		}
		log.Info("dashboard serving", zap.String("url", "http://"+addr+"/"))
		fmt.Fprintf(stderr, "controller: dashboard on http://%s/\n", addr)
		wg.Go(func() {
			if err := <-done; err != nil {
				log.Error("dashboard stopped", zap.Error(err))
			}
		})
	}
	err = controller.Run(cctx, client, syncer, opts...)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	log.Info("controller stopped")
	return nil
}
