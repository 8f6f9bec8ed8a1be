package retention

import (
	"strings"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults of a Cleaner.
const (
	// DefaultAuditMaxAge keeps 30 days of audit records.
	DefaultAuditMaxAge = 30 * 24 * time.Hour
	// DefaultAuditMaxRecords keeps at most 100,000 audit records (about
	// 100 to 300 MB at 1 to 3 KB a record: well inside etcd's 2 GB default
	// quota).
	DefaultAuditMaxRecords = 100_000
	// DefaultStatusGrace keeps the status record (and labels) of a removed
	// pod, a finished roll or a deleted controller for a day after its
	// resource is gone.
	DefaultStatusGrace = 24 * time.Hour
	// DefaultInterval is how often a Cleaner makes a pass.
	DefaultInterval = time.Minute
	// DefaultTTL is the lease TTL, in seconds, of the Cleaner's lock.
	DefaultTTL = 10
)

// LockName is the lock a Cleaner holds while it deletes, under
// <root>/locks/.
const LockName = "retention"

// config is what a Cleaner is configured with.
type config struct {
	prefix   string
	log      *zap.Logger
	reg      prometheus.Registerer
	audit    audit.Retention
	grace    time.Duration
	rules    []Rule
	interval time.Duration
	ttl      int
}

// Option configures a Cleaner.
type Option func(*config)

func configure(opts []Option) config {
	c := config{
		prefix:   "/p2",
		log:      zap.NewNop(),
		audit:    audit.Retention{MaxAge: DefaultAuditMaxAge, MaxRecords: DefaultAuditMaxRecords},
		grace:    DefaultStatusGrace,
		rules:    DefaultRules(),
		interval: DefaultInterval,
		ttl:      DefaultTTL,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	return c
}

// WithPrefix sets the root prefix (default "/p2").
func WithPrefix(root string) Option {
	return func(c *config) { c.prefix = strings.TrimRight(root, "/") }
}

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = l } }

// WithRegistry registers the Cleaner's metrics with r.
func WithRegistry(r prometheus.Registerer) Option { return func(c *config) { c.reg = r } }

// WithAudit sets how much of the audit log is kept (default 30 days and
// 100,000 records); a zero field sets no limit of its kind.
func WithAudit(r audit.Retention) Option { return func(c *config) { c.audit = r } }

// WithStatusGrace sets how long a status record is kept once its resource
// is gone (default one day).
func WithStatusGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithOrphanRules replaces the rules that say which status records and
// labels are orphans (default DefaultRules); a user's own kind adds its
// rules here. No rule: no status record or label is ever deleted.
func WithOrphanRules(rules ...Rule) Option {
	return func(c *config) { c.rules = rules }
}

// WithInterval sets how often a pass runs (default one minute).
func WithInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithTTL sets the lease TTL of the lock in seconds (default 10).
func WithTTL(seconds int) Option {
	return func(c *config) {
		if seconds > 0 {
			c.ttl = seconds
		}
	}
}
