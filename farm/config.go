package farm

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/p2kit/p2kit/fleet"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Config is what a farm, and each entity farm built on one, is configured
// with. Every entity farm (daemonset, rc, roll, podcluster) takes the same
// Options.
type Config struct {
	// Prefix is the root prefix of the keys, without a trailing slash.
	Prefix string
	Log    *zap.Logger
	// Registry receives the farm's and its failsafe's metrics; nil: none.
	Registry prometheus.Registerer
	// TTL is the lease TTL in seconds: how long a dead process keeps its
	// entities before another takes them over.
	TTL int
	// Resync is how often every entity is reconciled without a change.
	Resync  time.Duration
	Workers int
	// MinBackoff and MaxBackoff bound the retries of a failing entity.
	MinBackoff, MaxBackoff time.Duration
	// Identity names this process in logs.
	Identity string
	// Actor names the farm in audit records.
	Actor string
	// Fleet is a fleet view the caller runs, shared by the farms of one
	// process; nil: each entity farm runs its own.
	Fleet *fleet.View

	sessions *sessions // set by a Manager: one lease for all its farms
	wrap     []func(KeyFunc) KeyFunc
}

// Option configures a farm.
type Option func(*Config)

// Configure applies opts over the defaults: prefix "/p2", TTL 10s, resync
// 30s, 4 workers, backoff 1s to 1m, identity "<host>/<pid>", the given
// actor.
func Configure(actor string, opts ...Option) Config {
	host, _ := os.Hostname()
	c := Config{
		Prefix:     "/p2",
		Log:        zap.NewNop(),
		TTL:        10,
		Resync:     30 * time.Second,
		Workers:    4,
		MinBackoff: time.Second,
		MaxBackoff: time.Minute,
		Identity:   fmt.Sprintf("%s/%d", host, os.Getpid()),
		Actor:      actor,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	c.Workers = max(c.Workers, 1)
	return c
}

// WithPrefix sets the root prefix (default "/p2"); locks live under
// <root>/locks/<kind>/.
func WithPrefix(root string) Option {
	return func(c *Config) { c.Prefix = strings.TrimRight(root, "/") }
}

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(c *Config) { c.Log = l } }

// WithRegistry registers the farm's metrics with r.
func WithRegistry(r prometheus.Registerer) Option { return func(c *Config) { c.Registry = r } }

// WithTTL sets the lease TTL in seconds (default 10).
func WithTTL(seconds int) Option { return func(c *Config) { c.TTL = seconds } }

// WithResync sets how often every entity is reconciled without a change
// (default 30s).
func WithResync(d time.Duration) Option { return func(c *Config) { c.Resync = d } }

// WithWorkers sets how many entities are reconciled at once (default 4).
func WithWorkers(n int) Option { return func(c *Config) { c.Workers = n } }

// WithBackoff sets the retry backoff of a failing entity (default 1s to 1m).
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(c *Config) { c.MinBackoff, c.MaxBackoff = minDelay, maxDelay }
}

// WithIdentity names this process in logs (default host name and pid).
func WithIdentity(id string) Option { return func(c *Config) { c.Identity = id } }

// WithActor names the farm in audit records.
func WithActor(actor string) Option { return func(c *Config) { c.Actor = actor } }

// WithFleet shares a fleet view the caller runs between the farms of one
// process.
func WithFleet(v *fleet.View) Option { return func(c *Config) { c.Fleet = v } }

// WithMiddleware wraps the farm's reconcile of each entity: mw is called
// with the entity's fence in ctx (FenceFrom), after the farm claimed its
// lock and before the reconciler runs. Conformance tests (farmtest) use it
// to take the lock away mid-reconcile; it also suits tracing.
func WithMiddleware(mw func(next KeyFunc) KeyFunc) Option {
	return func(c *Config) { c.wrap = append(c.wrap, mw) }
}
