package dashboard

import (
	"strings"

	"go.uber.org/zap"
)

// DefaultPageSize is how many rows a paged table shows by default.
const DefaultPageSize = 50

// Option configures the dashboard.
type Option func(*config)

type config struct {
	prefix   string
	base     string
	log      *zap.Logger
	writes   bool
	user     string
	pageSize int
	secret   []byte
}

// WithPrefix sets the root prefix of p2kit's keys (default "/p2").
func WithPrefix(p string) Option {
	return func(c *config) { c.prefix = strings.TrimSuffix(p, "/") }
}

// WithBasePath sets the URL path the handler is mounted at (default "/"),
// for links and forms: a handler mounted at "/dashboard/" is given
// WithBasePath("/dashboard/") and receives the full request paths.
func WithBasePath(p string) Option {
	return func(c *config) {
		c.base = "/" + strings.Trim(p, "/") + "/"
		if c.base == "//" {
			c.base = "/"
		}
	}
}

// WithLogger sets the logger requests and errors are reported to
// (default: none).
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = l } }

// WithPageSize sets how many rows a paged table shows (default
// DefaultPageSize).
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// AllowWrites turns on the one write the dashboard offers, the release of
// a failsafe hold, audited as user. user is the etcd user the dashboard's
// client authenticates as (its role must allow writing the release and
// audit keys); "" takes the client's own user name. Without this option
// no page shows a write action and every POST is refused with 403.
func AllowWrites(user string) Option {
	return func(c *config) { c.writes, c.user = true, user }
}

// WithCSRFSecret sets the secret CSRF tokens are derived from (default: 32
// random bytes per process). Give several dashboards behind one load
// balancer the same secret.
func WithCSRFSecret(secret []byte) Option {
	return func(c *config) { c.secret = append([]byte(nil), secret...) }
}
