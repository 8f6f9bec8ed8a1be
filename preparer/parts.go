package preparer

import (
	"context"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
)

// Installer puts a pod's artifacts on disk and takes them off again.
// Implementations must be safe for concurrent use on different pods; the
// preparer never runs two actions on one pod at once.
type Installer interface {
	// Install makes m's artifacts ready to launch and returns the
	// directory they are in. Installing a version already on disk is
	// cheap and changes nothing.
	Install(ctx context.Context, m *manifest.Manifest) (dir string, err error)
	// Hook runs one of the artifact's hooks (see the Hook constants) of the
	// install at dir, if the artifact has it.
	Hook(ctx context.Context, m *manifest.Manifest, dir string, hook string) error
	// Uninstall removes everything of the pod from disk.
	Uninstall(ctx context.Context, podID string) error
	// Prune removes the pod's installs other than keepDigest.
	Prune(ctx context.Context, podID, keepDigest string) error
	// Pods lists the pods that have anything on disk.
	Pods() ([]string, error)
}

// The hooks the preparer runs around launching a pod, after
// the installer's own before_install and after_install (Uninstall runs
// before_uninstall).
const (
	HookBeforeLaunch = "before_launch"
	HookAfterLaunch  = "after_launch"
)

// Launcher runs installed pods. Processes it starts should outlive the
// preparer, and a new Launcher over the same state must find them again.
type Launcher interface {
	// Launch starts every entry point of m from the install at dir. A pod
	// already running m's digest is left alone.
	Launch(ctx context.Context, m *manifest.Manifest, dir string) error
	// Stop ends the pod's processes, politely and then after grace by force.
	Stop(ctx context.Context, podID string, grace time.Duration) error
	// Running reports the manifest digest the pod runs, if it runs.
	Running(podID string) (digest string, ok bool)
	// Processes describes the pod's processes for its status record.
	Processes(podID string) ([]status.Process, error)
}

// HealthChecker judges a launched pod.
type HealthChecker interface {
	Check(ctx context.Context, m *manifest.Manifest, procs []status.Process) (status.Health, error)
}
