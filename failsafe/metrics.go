package failsafe

import (
	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// metrics are the failsafe collectors, shared by every Holds on a registry.
type metrics struct {
	holds  *prometheus.CounterVec
	active *prometheus.GaugeVec
	ends   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, log *zap.Logger) *metrics {
	m := &metrics{
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_failsafe_holds_total",
			Help: "Holds begun by failsafe guards.",
		}, []string{"component", "guard"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "p2kit_failsafe_active_holds",
			Help: "Failsafe holds in effect.",
		}, []string{"component", "guard"}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_failsafe_hold_ends_total",
			Help: "Failsafe holds ended, by how: recovered or released.",
		}, []string{"component", "guard", "how"}),
	}
	if reg == nil {
		return m
	}
	m.holds = promreg.Register(reg, log, m.holds)
	m.active = promreg.Register(reg, log, m.active)
	m.ends = promreg.Register(reg, log, m.ends)
	return m
}
