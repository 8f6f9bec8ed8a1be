package podcluster

import (
	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// metrics are the farm's collectors.
type metrics struct {
	syncs   *prometheus.CounterVec
	deletes *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, log *zap.Logger) *metrics {
	m := &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_pod_cluster_syncs_total",
			Help: "Calls of a syncer's SyncCluster by the pod cluster farm, by result.",
		}, []string{"syncer", "result"}),
		deletes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_pod_cluster_deletes_total",
			Help: "Calls of a syncer's DeleteCluster by the pod cluster farm, by result.",
		}, []string{"syncer", "result"}),
	}
	if reg == nil {
		return m
	}
	m.syncs = promreg.Register(reg, log, m.syncs)
	m.deletes = promreg.Register(reg, log, m.deletes)
	return m
}
