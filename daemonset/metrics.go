package daemonset

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// metrics are the farm's collectors.
type metrics struct {
	actions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, log *zap.Logger) *metrics {
	m := &metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_daemon_set_node_actions_total",
			Help: "Nodes the daemon set farm scheduled, updated or unscheduled.",
		}, []string{"action"}),
	}
	if reg == nil {
		return m
	}
	if err := reg.Register(m.actions); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if c, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				m.actions = c
				return m
			}
		}
		log.Error("register daemon set farm metrics", zap.Error(err))
	}
	return m
}
