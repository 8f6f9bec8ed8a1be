package daemonset

import (
	"github.com/p2kit/p2kit/internal/promreg"
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
	m.actions = promreg.Register(reg, log, m.actions)
	return m
}
