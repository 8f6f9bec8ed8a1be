// Package promreg registers p2kit's Prometheus collectors tolerantly:
// several components (three preparers in one quickstart, four farms in one
// controller) share one registry, and the second registration of a name
// reuses the first collector instead of failing.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Register adds c to reg and returns it, or returns the collector already
// registered under the same name. A nil reg registers nothing. Any other
// failure is logged and c is returned unregistered: counting never stops
// the component.
func Register[C prometheus.Collector](reg prometheus.Registerer, log *zap.Logger, c C) C {
	if reg == nil {
		return c
	}
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
	if log != nil {
		log.Error("register metrics", zap.Error(err))
	}
	return c
}
