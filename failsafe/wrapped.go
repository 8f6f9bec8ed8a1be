package failsafe

import (
	"context"

	"github.com/p2kit/p2kit/kv"
)

// wrapped is the source a middleware of this package wraps. Embedded, it
// makes the middleware a kv.Progress whenever its source is one, so that
// a stage above it can read up to a release's revision through any stack.
type wrapped[T any] struct {
	inner kv.Source[T]
}

// Revision implements kv.Progress when the wrapped source does.
func (w wrapped[T]) Revision() int64 {
	if p, ok := progressOf(w.inner); ok {
		return p.Revision()
	}
	return 0
}

// RequestProgress implements kv.Progress when the wrapped source does.
func (w wrapped[T]) RequestProgress(ctx context.Context) error {
	if p, ok := progressOf(w.inner); ok {
		return p.RequestProgress(ctx)
	}
	return nil
}

func (w wrapped[T]) hasProgress() bool {
	_, ok := progressOf(w.inner)
	return ok
}

// progressOf returns src as a kv.Progress when it can tell its revision.
// Middleware of this package implements kv.Progress whatever it wraps and
// says with hasProgress whether it can.
func progressOf[T any](src kv.Source[T]) (kv.Progress, bool) {
	p, ok := src.(kv.Progress)
	if !ok {
		return nil, false
	}
	if f, ok := src.(interface{ hasProgress() bool }); ok && !f.hasProgress() {
		return nil, false
	}
	return p, true
}
