package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// envDemoApp switches this binary into the demo app the quickstart deploys:
// the artifact's bin/launch runs the quickstart's own executable with it.
const envDemoApp = "P2KIT_QUICKSTART_APP"

// runDemoApp serves "/" and "/_status" on $P2_NODE_IP:$PORT until SIGTERM.
func runDemoApp() int {
	addr := net.JoinHostPort(os.Getenv("P2_NODE_IP"), os.Getenv("PORT"))
	mux := http.NewServeMux()
	mux.HandleFunc("/_status", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s, %s version %s\n", os.Getenv("P2_NODE"), os.Getenv("POD_ID"), os.Getenv("VERSION"))
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "demo app:", err)
		return 1
	}
	return 0
}
