package component

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// DefaultMetricsRetryInterval is how often a daemon tries again to bind a
// busy --metrics-addr.
const DefaultMetricsRetryInterval = 5 * time.Second

// ServeMetricsOrRetry serves reg at http://addr/metrics like ServeMetrics.
// When the address is in use (another agent on the host has the port) it
// logs a warning and returns nil: it keeps trying every interval in the
// background until it binds, with an info line then, or ctx ends, and the
// binary works on meanwhile. Any other error (a bad address) is returned.
// done is closed when the background attempts end.
func ServeMetricsOrRetry(ctx context.Context, addr string, reg *prometheus.Registry, log *zap.Logger, interval time.Duration) (done <-chan struct{}, err error) {
	ch := make(chan struct{})
	_, err = ServeMetrics(ctx, addr, reg, log)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		close(ch)
		return ch, err
	}
	if interval <= 0 {
		interval = DefaultMetricsRetryInterval
	}
	log.Warn("metrics address in use; serving no metrics for now and retrying in the background",
		zap.String("addr", addr), zap.Duration("retry_every", interval), zap.Error(err))
	go func() {
		defer close(ch)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_, err := ServeMetrics(ctx, addr, reg, log)
			if err == nil {
				log.Info("metrics address free again; serving metrics", zap.String("addr", addr))
				return
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				log.Error("metrics address", zap.String("addr", addr), zap.Error(err))
				return
			}
		}
	}()
	return ch, nil
}
