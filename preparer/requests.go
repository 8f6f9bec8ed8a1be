package preparer

import (
	"context"
	"time"
)

// requestTimeout bounds the etcd requests a pod action or health check
// makes while it holds the pod's lock. A request whose answer is lost (a
// connection a network fault left open but damaged, a half-open
// connection) would otherwise hold the pod for good: no upgrade, no
// removal. Bounded, the action fails and is retried.
const requestTimeout = 10 * time.Second

// requestContext is ctx bounded by requestTimeout.
func requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, requestTimeout)
}
