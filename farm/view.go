package farm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/p2kit/p2kit/fleet"
)

// runWithView runs an entity farm until ctx ends. It runs the fleet view
// when the farm owns it, waits for the view's first listing (a farm must
// never mistake a view still loading for a fleet without pods), calls
// start (nil: none), then runs every part at once. The first part to
// return ends them all; runWithView returns nil when ctx ended, and
// otherwise the failure named by what.
func runWithView(ctx context.Context, what string, view *fleet.View, own bool,
	start func(context.Context) error, parts ...func(context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, len(parts)+1)
	if own {
		wg.Go(func() {
			if err := view.Run(ctx); err != nil {
				errs <- fmt.Errorf("fleet view: %w", err)
			}
		})
	}
	synced := make(chan error, 1)
	go func() { synced <- view.WaitSynced(ctx) }()
	select {
	case err := <-errs:
		return failure(parent, what, err)
	case err := <-synced:
		if err != nil {
			return nil // ctx ended
		}
	}
	if start != nil {
		if err := start(ctx); err != nil {
			return failure(parent, what, err)
		}
	}
	for _, part := range parts {
		wg.Go(func() { errs <- part(ctx) })
	}
	err := <-errs
	cancel()
	return failure(parent, what, err)
}

// failure is err named by what, or nil when the caller's ctx has ended or
// err is nil.
func failure(ctx context.Context, what string, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
