package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// DefaultListen is where the reference binaries serve the dashboard: the
// loopback interface only, unless told otherwise.
const DefaultListen = "127.0.0.1:8480"

// Serve serves h on addr until ctx ends. It returns once it listens, with
// the address it bound (addr may give port 0) and a channel that yields the
// server's error, or nil, once it has stopped.
func Serve(ctx context.Context, addr string, h http.Handler, log *zap.Logger) (string, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("dashboard: listen %s: %w", addr, err)
	}
	// Requests end with ctx, so that event streams let Shutdown finish.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log),
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Event streams never end on their own: close what Shutdown
		// does not finish in time.
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()
	return ln.Addr().String(), done, nil
}
