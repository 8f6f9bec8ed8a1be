package component

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Daemon is the flags and set-up the long-running binaries (preparer,
// controller) share: etcd, --prefix, --log-level and --metrics-addr.
type Daemon struct {
	Etcd        Etcd
	Prefix      string
	LogLevel    string
	MetricsAddr string
	// EtcdCheckInterval is how often Start's runtime checks that etcd
	// answers (not a flag; 0 is DefaultEtcdCheckInterval).
	EtcdCheckInterval time.Duration
}

// Register declares the flags on f; defaultMetrics is the default
// --metrics-addr ("" for none).
func (d *Daemon) Register(f *pflag.FlagSet, defaultMetrics string) {
	d.Etcd.Register(f)
	f.StringVar(&d.Prefix, "prefix", "/p2", "root prefix of every p2kit key")
	f.StringVar(&d.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&d.MetricsAddr, "metrics-addr", defaultMetrics, "address of the Prometheus /metrics endpoint (empty: none)")
}

// CheckPrefix checks and normalizes a --prefix value: absolute, without a
// trailing slash.
func CheckPrefix(p string) (string, error) {
	if !strings.HasPrefix(p, "/") || strings.TrimRight(p, "/") == "" {
		return "", fmt.Errorf("--prefix %q: want an absolute key prefix such as /p2", p)
	}
	return strings.TrimRight(p, "/"), nil
}

// JSONLogger returns a structured (JSON) logger at level on stderr.
func JSONLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return cfg.Build()
}

// SignalContext is a context that ends on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ServeMetrics serves reg at http://addr/metrics until ctx ends. It returns
// once the listener is bound, so a bad address fails at start-up; the
// bound address is returned (useful with port 0).
func ServeMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *zap.Logger) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("metrics", zap.String("addr", l.Addr().String()))
	return l.Addr().String(), nil
}

// Runtime is what a long-running binary works with once started: its
// logger, its etcd client and the registry its /metrics serves.
type Runtime struct {
	Log      *zap.Logger
	Client   *clientv3.Client
	Registry *prometheus.Registry

	stop func() // ends the background work (etcd check, metrics retries) and waits
}

// Close stops the background work, releases the client and flushes the
// logger.
func (r *Runtime) Close() {
	if r.stop != nil {
		r.stop()
	}
	_ = r.Client.Close()
	_ = r.Log.Sync()
}

// Start builds the structured logger of component, dials etcd (failing
// fast), and serves /metrics on --metrics-addr until ctx ends. A busy
// metrics port is logged and retried in the background (see
// ServeMetricsOrRetry); while etcd does not answer, a warning is logged, and
// an info line when it answers again (see WatchEtcd). Close ends both.
func (d *Daemon) Start(ctx context.Context, component string) (*Runtime, error) {
	log, err := JSONLogger(d.LogLevel)
	if err != nil {
		return nil, err
	}
	log = log.With(zap.String("component", component))
	client, err := d.Etcd.Dial(ctx, log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	rt := &Runtime{Log: log, Client: client, Registry: NewRegistry(), stop: func() { cancel(); wg.Wait() }}
	if d.MetricsAddr != "" {
		done, err := ServeMetricsOrRetry(bg, d.MetricsAddr, rt.Registry, log, 0)
		if err != nil {
			rt.Close()
			return nil, err
		}
		wg.Go(func() { <-done })
	}
	wg.Go(func() { WatchEtcd(bg, client, d.EtcdCheckInterval, log) })
	return rt, nil
}
