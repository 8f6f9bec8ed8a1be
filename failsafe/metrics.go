package failsafe

import (
	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// metrics are the failsafe collectors, shared by every Holds on a registry.
// A Holds without a registry has none (nil): its series, one per component
// and guard, could never be read.
type metrics struct {
	holds  *prometheus.CounterVec
	active *prometheus.GaugeVec
	ends   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, log *zap.Logger) *metrics {
	if reg == nil {
		return nil
	}
	return &metrics{
		holds: promreg.Register(reg, log, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_failsafe_holds_total",
			Help: "Holds begun by failsafe guards.",
		}, []string{"component", "guard"})),
		active: promreg.Register(reg, log, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "p2kit_failsafe_active_holds",
			Help: "Failsafe holds in effect.",
		}, []string{"component", "guard"})),
		ends: promreg.Register(reg, log, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_failsafe_hold_ends_total",
			Help: "Failsafe holds ended, by how: recovered or released.",
		}, []string{"component", "guard", "how"})),
	}
}

// begun counts a hold begun.
func (m *metrics) begun(component, guard string) {
	if m == nil {
		return
	}
	m.holds.WithLabelValues(component, guard).Inc()
	m.active.WithLabelValues(component, guard).Inc()
}

// ended counts a hold ended, how: "recovered" or "released".
func (m *metrics) ended(component, guard, how string) {
	if m == nil {
		return
	}
	m.active.WithLabelValues(component, guard).Dec()
	m.ends.WithLabelValues(component, guard, how).Inc()
}
