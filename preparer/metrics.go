package preparer

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	installs   prometheus.Counter
	uninstalls prometheus.Counter
	failures   prometheus.Counter
	reconcile  prometheus.Observer
}

// newMetrics registers the preparer's metrics with reg (nil: none). Several
// preparers may share one registry.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		installs: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2kit_preparer_installs_total", Help: "Pods installed or upgraded and launched.",
		})),
		uninstalls: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2kit_preparer_uninstalls_total", Help: "Pods stopped and uninstalled.",
		})),
		failures: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2kit_preparer_failures_total", Help: "Pod actions that failed and will be retried.",
		})),
	}
	m.reconcile = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "p2kit_preparer_reconcile_seconds",
		Help:    "Time to reconcile one pod.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}))
	return m
}

// register adds c to reg, or returns the collector already registered
// under the same name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
