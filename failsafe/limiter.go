package failsafe

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Limiter paces destructive actions (uninstalling a pod, unscheduling a
// node): consumers call Wait or Allow before each one, so that even a
// change every guard passed cannot destroy faster than the limit.
type Limiter struct {
	action string
	lim    *rate.Limiter
	log    *zap.Logger
}

// NewLimiter allows one action per every, in bursts of up to burst. action
// names what is limited in logs ("uninstall pod"); log may be nil.
func NewLimiter(action string, every time.Duration, burst int, log *zap.Logger) *Limiter {
	if log == nil {
		log = zap.NewNop()
	}
	return &Limiter{action: action, lim: rate.NewLimiter(rate.Every(every), burst), log: log}
}

// Wait blocks until the action may go ahead or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	if l.lim.Allow() {
		return nil
	}
	l.log.Warn("destructive action rate-limited; waiting", zap.String("action", l.action))
	if err := l.lim.Wait(ctx); err != nil {
		return fmt.Errorf("rate limit of %s: %w", l.action, err)
	}
	return nil
}

// Allow reports whether the action may go ahead now; when it may not, the
// caller should skip it and try again later.
func (l *Limiter) Allow() bool {
	if l.lim.Allow() {
		return true
	}
	l.log.Warn("destructive action rate-limited; skipped", zap.String("action", l.action))
	return false
}
