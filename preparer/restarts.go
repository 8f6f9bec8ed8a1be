package preparer

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/status"
)

// DefaultCrashLoopWindow is how long after a process last exited its pod
// is not reported passing.
const DefaultCrashLoopWindow = time.Minute

// WithCrashLoopWindow sets how long after one of its processes last exited
// (and was restarted) a pod is reported warning rather than passing
// (default 1m). A pod restarted since its last health check is critical
// whatever the window.
func WithCrashLoopWindow(d time.Duration) Option {
	return func(pr *Preparer) {
		if d > 0 {
			pr.crashWindow = d
		}
	}
}

// judgeRestarts lowers a health check's result for a pod whose processes
// keep exiting: a process restarted since the previous check (before)
// makes the pod critical, and one that exited within the crash-loop
// window makes a passing pod warning. An app that answers its check between
// crashes is never reported passing.
func judgeRestarts(h status.Health, err error, before, now []status.Process, window time.Duration, at time.Time) (status.Health, error) {
	prev := make(map[string]int, len(before))
	for _, pr := range before {
		prev[pr.Launchable+"\x00"+pr.EntryPoint] = pr.Restarts
	}
	for _, pr := range now {
		was, ok := prev[pr.Launchable+"\x00"+pr.EntryPoint]
		if ok && pr.Restarts > was {
			return status.Critical, fmt.Errorf("%s %s restarted %d times since the last check%s",
				pr.Launchable, pr.EntryPoint, pr.Restarts-was, exitText(pr.LastExit))
		}
	}
	if h != status.Passing {
		return h, err
	}
	for _, pr := range now {
		if pr.Restarts > 0 && pr.LastExit != nil && at.Sub(pr.LastExit.At) < window {
			return status.Warning, fmt.Errorf("%s %s exited %s ago%s; %d restarts",
				pr.Launchable, pr.EntryPoint, at.Sub(pr.LastExit.At).Round(time.Second), exitText(pr.LastExit), pr.Restarts)
		}
	}
	return h, err
}

func exitText(e *status.Exit) string {
	switch {
	case e == nil:
		return ""
	case e.Signal != "":
		return " (signal " + e.Signal + ")"
	default:
		return fmt.Sprintf(" (exit code %d)", e.Code)
	}
}
