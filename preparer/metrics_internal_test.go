package preparer

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Preparers without a registry (a simulation of thousands of nodes in one
// process) share one set of collectors and keep no series per node;
// preparers on one registry share its collectors, with a lag series per
// node.
func TestPreparersShareTheirCollectors(t *testing.T) {
	a, b := newMetrics(nil), newMetrics(nil)
	require.Same(t, a, b)
	require.Nil(t, a.lag)
	a.setLag("web1", 3) // counts nowhere, and does not fail

	reg := prometheus.NewRegistry()
	c, d := newMetrics(reg), newMetrics(reg)
	require.Same(t, c.installs, d.installs)
	require.Same(t, c.lag, d.lag)
	c.setLag("web1", 3)
	d.setLag("web2", 5)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	lags := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "p2kit_preparer_watch_lag_revisions" {
			for _, m := range mf.GetMetric() {
				lags[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	require.Equal(t, map[string]float64{"web1": 3, "web2": 5}, lags)
}
