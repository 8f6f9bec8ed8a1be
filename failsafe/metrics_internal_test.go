package failsafe

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Holds without a registry keep no collectors and no series (one per
// component: a preparer per node in a simulation); Holds on one registry
// share its collectors.
func TestHoldsShareTheirCollectors(t *testing.T) {
	a := NewHolds(nil, "preparer/web1")
	require.Nil(t, a.m)
	a.Begin(Record{Guard: "max-deletes"}).End(false) // counts nowhere, and does not fail

	reg := prometheus.NewRegistry()
	c := NewHolds(nil, "preparer/web1", WithRegistry(reg))
	d := NewHolds(nil, "preparer/web2", WithRegistry(reg))
	require.Same(t, c.m.holds, d.m.holds)
	require.Same(t, c.m.ends, d.m.ends)
	c.Begin(Record{Guard: "max-deletes"})
	d.Begin(Record{Guard: "max-deletes"}).End(true)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	active := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "p2kit_failsafe_active_holds" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "component" {
						active[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			}
		}
	}
	require.Equal(t, map[string]float64{"preparer/web1": 1, "preparer/web2": 0}, active)
}
