package promreg_test

import (
	"fmt"
	"testing"

	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestRegisterReusesTheFirstCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "p2kit_test_total", Help: "test"}
	a := promreg.Register(reg, nil, prometheus.NewCounter(opts))
	b := promreg.Register(reg, nil, prometheus.NewCounter(opts))
	require.Same(t, a, b)
	b.Inc()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Equal(t, 1.0, mfs[0].Metric[0].Counter.GetValue())
	require.NotNil(t, promreg.Register[prometheus.Counter](nil, nil, prometheus.NewCounter(opts)))
}

func Example() {
	reg := prometheus.NewRegistry()
	c := promreg.Register(reg, nil, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "p2kit_example_total", Help: "x"}, []string{"kind"}))
	c.WithLabelValues("a").Inc()
	n, _ := reg.Gather()
	fmt.Println(len(n))
	// Output: 1
}
