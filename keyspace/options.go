package keyspace

import (
	"strings"

	"go.uber.org/zap"
)

// DefaultRoot is the root prefix every key lives under.
const DefaultRoot = "/p2"

// Options are the settings every store shares.
type Options struct {
	// Root is the root prefix without a trailing "/": "/p2".
	Root string
	// Log is the logger watches use; never nil after Resolve.
	Log *zap.Logger
	// SharedValues has the stores of map-valued entities (labels) give
	// the values they read from equal bytes the same maps (kv.Shared).
	SharedValues bool
}

// Option changes Options.
type Option func(*Options)

// WithPrefix sets the root prefix (default "/p2"). A trailing "/" is ignored.
func WithPrefix(root string) Option {
	return func(o *Options) { o.Root = strings.TrimRight(root, "/") }
}

// WithLogger sets the logger watches use (default: none).
func WithLogger(l *zap.Logger) Option {
	return func(o *Options) {
		if l != nil {
			o.Log = l
		}
	}
}

// WithSharedValues has the label sets a store reads from equal bytes share
// one map (kv.Shared), for a process that holds many of them and only reads
// them: a fleet view holds the same daemon set pod labels for every node.
// Whoever changes such a set must change a clone of it. Pod manifests are
// always read that way.
func WithSharedValues() Option {
	return func(o *Options) { o.SharedValues = true }
}

// Resolve applies opts over the defaults.
func Resolve(opts []Option) Options {
	o := Options{Root: DefaultRoot, Log: zap.NewNop()}
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// Dir returns the prefix of one entity directory: Dir("intent") is
// "/p2/intent" with the default root.
func (o Options) Dir(parts ...string) string {
	return o.Root + "/" + strings.Join(parts, "/")
}
