package retention

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Space follows etcd's NOSPACE alarm and says plainly when it is raised
// and when it is gone: while it is raised etcd refuses every write, and an
// operator must compact, defragment and disarm it (docs/OPERATIONS.md).
type Space struct {
	client *clientv3.Client
	log    *zap.Logger
	gauge  prometheus.Gauge

	mu  sync.Mutex
	out bool
}

// NewSpace returns a Space that logs to log and sets the gauge
// p2kit_etcd_nospace in reg (nil: none).
func NewSpace(client *clientv3.Client, log *zap.Logger, reg prometheus.Registerer) *Space {
	if log == nil {
		log = zap.NewNop()
	}
	return &Space{client: client, log: log, gauge: promreg.Register(reg, log, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "p2kit_etcd_nospace",
		Help: "1 while etcd's NOSPACE alarm is raised (etcd refuses writes), else 0.",
	}))}
}

// Out reports whether the last check found the NOSPACE alarm raised.
func (s *Space) Out() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out
}

// Check reads etcd's alarms once, logs a change and reports whether etcd
// is out of space.
func (s *Space) Check(ctx context.Context) (bool, error) {
	resp, err := s.client.AlarmList(ctx)
	if err != nil {
		return false, fmt.Errorf("etcd alarm list: %w", err)
	}
	var members []string
	for _, a := range resp.Alarms {
		if a.Alarm == etcdserverpb.AlarmType_NOSPACE {
			members = append(members, fmt.Sprintf("%x", a.MemberID))
		}
	}
	out := len(members) > 0
	s.mu.Lock()
	was := s.out
	s.out = out
	s.mu.Unlock()
	switch {
	case out && !was:
		s.gauge.Set(1)
		s.log.Error("etcd is out of space: the NOSPACE alarm is raised and etcd refuses every write; "+
			"compact, defragment and run `etcdctl alarm disarm` (docs/OPERATIONS.md)",
			zap.Strings("members", members))
	case !out && was:
		s.gauge.Set(0)
		s.log.Info("etcd has space again: the NOSPACE alarm is gone")
	}
	return out, nil
}

// Run checks every interval until ctx ends.
func (s *Space) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Check(ctx); err != nil && ctx.Err() == nil {
			s.log.Debug("etcd alarm list", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
