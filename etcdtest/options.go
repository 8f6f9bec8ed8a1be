package etcdtest

import (
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Option changes the configuration of every member NewClusterWith starts,
// after etcdtest's own settings.
type Option func(*embed.Config)

// WithQuotaBackendBytes sets the backend quota (etcd's
// --quota-backend-bytes): when the database reaches it, etcd raises the
// NOSPACE alarm and refuses writes.
func WithQuotaBackendBytes(n int64) Option {
	return func(c *embed.Config) { c.QuotaBackendBytes = n }
}

// WithPeriodicCompaction makes every member compact its history older than
// retention, as --auto-compaction-mode=periodic does.
func WithPeriodicCompaction(retention time.Duration) Option {
	return func(c *embed.Config) {
		c.AutoCompactionMode = "periodic"
		c.AutoCompactionRetention = retention.String()
	}
}

// WithRevisionCompaction makes every member keep only the last revisions
// of its history, as --auto-compaction-mode=revision does.
func WithRevisionCompaction(revisions int64) Option {
	return func(c *embed.Config) {
		c.AutoCompactionMode = "revision"
		c.AutoCompactionRetention = strconv.FormatInt(revisions, 10)
	}
}
