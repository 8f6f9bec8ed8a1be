// Command canary is a fifth p2kit entity kind, written only against
// p2kit's public packages: a canary runs one pod of a manifest on one of
// the nodes its label selector picks, and moves it when that node stops
// matching. Run any number of copies: they share the canaries through
// etcd locks, and one takes over when another stops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "canary: %v\n", err)
		os.Exit(1)
	}
}

// run joins a farm.Manager with the canary farm until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("canary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoints := fs.String("etcd", envOr("P2_ETCD", "127.0.0.1:2379"), "comma-separated etcd endpoints (env P2_ETCD)")
	prefix := fs.String("prefix", "/p2", "root prefix of every p2kit key")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	dialTimeout := fs.Duration("dial-timeout", 5*time.Second, "how long to wait for etcd to answer")
	ttl := fs.Int("lease-ttl", 10, "seconds a dead process keeps its canaries before another takes them")
	resync := fs.Duration("resync", 30*time.Second, "how often every canary is reconciled without a change")
	identity := fs.String("identity", "", "name of this process in logs (default host/pid)")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9103", "address of the Prometheus /metrics endpoint (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(*prefix, "/") || strings.TrimRight(*prefix, "/") == "" {
		return fmt.Errorf("--prefix %q: want an absolute key prefix such as /p2", *prefix)
	}
	lvl, err := zapcore.ParseLevel(*level)
	if err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	log, err := cfg.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	eps := strings.Split(*endpoints, ",")
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: *dialTimeout,
		Logger: log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.WarnLevel))})
	if err != nil {
		return fmt.Errorf("--etcd %s: %w", *endpoints, err)
	}
	defer cli.Close()
	// clientv3.New does not notice an unreachable etcd: ask it once.
	sctx, cancel := context.WithTimeout(ctx, *dialTimeout)
	_, err = cli.Status(sctx, eps[0])
	cancel()
	if err != nil {
		return fmt.Errorf("--etcd %s: unreachable: %w", eps[0], err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if *metricsAddr != "" {
		if err := serveMetrics(ctx, *metricsAddr, reg, log); err != nil {
			return err
		}
	}
	opts := []farm.Option{farm.WithPrefix(*prefix), farm.WithLogger(log), farm.WithTTL(*ttl),
		farm.WithResync(*resync), farm.WithActor("canary-farm"), farm.WithRegistry(reg)}
	if *identity != "" {
		opts = append(opts, farm.WithIdentity(*identity))
	}
	return runManager(ctx, cli, opts...)
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

// serveMetrics serves reg at http://addr/metrics until ctx ends; a bad or
// busy address fails at start.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *zap.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("metrics", zap.String("addr", l.Addr().String()))
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
