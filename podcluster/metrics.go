package podcluster

import (
	"errors"

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
	m.syncs = register(reg, log, m.syncs)
	m.deletes = register(reg, log, m.deletes)
	return m
}

// register registers c, or returns the collector already registered under
// its name, so that several farms can share one registry.
func register(reg prometheus.Registerer, log *zap.Logger, c *prometheus.CounterVec) *prometheus.CounterVec {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	log.Error("register pod cluster farm metrics", zap.Error(err))
	return c
}
