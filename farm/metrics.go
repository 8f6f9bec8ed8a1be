package farm

import (
	"time"

	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// farmMetrics are one farm's series of the shared farm collectors.
type farmMetrics struct {
	duration prometheus.Observer
	errors   prometheus.Counter
	owned    prometheus.Gauge
}

func newFarmMetrics(reg prometheus.Registerer, log *zap.Logger, kind string) *farmMetrics {
	duration := promreg.Register(reg, log, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "p2kit_farm_reconcile_seconds",
		Help:    "Time to reconcile one entity, by farm kind.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"kind"}))
	errs := promreg.Register(reg, log, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "p2kit_farm_reconcile_errors_total",
		Help: "Reconciles that failed and will be retried, by farm kind.",
	}, []string{"kind"}))
	owned := promreg.Register(reg, log, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "p2kit_farm_owned_entities",
		Help: "Entities this process holds the lock of, by farm kind.",
	}, []string{"kind"}))
	return &farmMetrics{
		duration: duration.WithLabelValues(kind),
		errors:   errs.WithLabelValues(kind),
		owned:    owned.WithLabelValues(kind),
	}
}

func (m *farmMetrics) observe(d time.Duration, err error) {
	m.duration.Observe(d.Seconds())
	if err != nil {
		m.errors.Inc()
	}
}
