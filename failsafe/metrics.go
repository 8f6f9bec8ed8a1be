package failsafe

import (
	"errors"

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
	m.holds = register(reg, log, m.holds)
	m.active = register(reg, log, m.active)
	m.ends = register(reg, log, m.ends)
	return m
}

// register registers c, or returns the collector already registered under
// its name so that several Holds can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, log *zap.Logger, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	// Counting must never stop a guard: keep the unregistered collector.
	log.Error("register failsafe metrics", zap.Error(err))
	return c
}
