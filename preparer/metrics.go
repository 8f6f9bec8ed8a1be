package preparer

import (
	"sync"

	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	installs   prometheus.Counter
	uninstalls prometheus.Counter
	failures   prometheus.Counter
	reconcile  prometheus.Observer
	// lag is nil when no registry was given: a series per node that
	// nobody can read is not kept.
	lag     *prometheus.GaugeVec
	cutOffs prometheus.Counter
}

// unregistered is the one set of collectors every preparer without a
// registry counts into: they cost nothing per preparer, and nothing reads
// them.
var unregistered = sync.OnceValue(func() *metrics {
	m := buildMetrics(nil)
	m.lag = nil
	return m
})

// newMetrics registers the preparer's metrics with reg (nil: none).
// Several preparers may share one registry: they then share its
// collectors, and without one they share one unregistered set.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return unregistered()
	}
	return buildMetrics(reg)
}

func buildMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		installs: promreg.Register(reg, nil, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2kit_preparer_installs_total", Help: "Pods installed or upgraded and launched.",
		})),
		uninstalls: promreg.Register(reg, nil, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2kit_preparer_uninstalls_total", Help: "Pods stopped and uninstalled.",
		})),
		failures: promreg.Register(reg, nil, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2kit_preparer_failures_total", Help: "Pod actions that failed and will be retried.",
		})),
		cutOffs: promreg.Register(reg, nil, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2kit_preparer_intent_resyncs_total",
			Help: "Intent relists made because the node record's lease was lost: the preparer was cut off from etcd.",
		})),
	}
	m.reconcile = promreg.Register(reg, nil, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "p2kit_preparer_reconcile_seconds",
		Help:    "Time to reconcile one pod.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}))
	m.lag = promreg.Register(reg, nil, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "p2kit_preparer_watch_lag_revisions",
		Help: "How many etcd revisions the intent watch's state trails the newest revision etcd reported.",
	}, []string{"node"}))
	return m
}

// setLag records how far node's intent watch trails etcd.
func (m *metrics) setLag(node string, lag int64) {
	if m.lag != nil {
		m.lag.WithLabelValues(node).Set(float64(lag))
	}
}
