package status

import (
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/wire"
)

// PreparerNamespace is the namespace of the preparer's pod records.
const PreparerNamespace = "preparer"

// PodState is what the preparer last did with a pod.
type PodState string

const (
	// Launched: the pod is installed and its processes started.
	Launched PodState = "launched"
	// Removed: the pod was stopped and uninstalled.
	Removed PodState = "removed"
	// Failed: installing or launching the pod failed; Error says why.
	Failed PodState = "failed"
)

// Health is the result of a pod's health check.
type Health string

// The results of a health check, from best to worst; Unknown stands apart.
const (
	// Passing: the check succeeded.
	Passing Health = "passing"
	// Warning: the pod answers but reports trouble.
	Warning Health = "warning"
	// Critical: the check failed.
	Critical Health = "critical"
	// Unknown: no check ran yet, or the pod has none.
	Unknown Health = "unknown"
)

// PodStatus is the preparer's record of one pod on its node, at
// /p2/status/pods/<node>/<pod-id>/preparer.
type PodStatus struct {
	Status PodState `json:"status"`
	// ManifestDigest is the digest (manifest.Digest) of the manifest the
	// record is about; required when launched.
	ManifestDigest string    `json:"manifest_digest,omitempty"`
	Processes      []Process `json:"processes,omitempty"`
	Health         Health    `json:"health"`
	// Error says what failed; set with Failed.
	Error     string    `json:"error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Process is one running (or last run) process of a pod.
type Process struct {
	// Launchable is the launchable's name in the manifest.
	Launchable string `json:"launchable"`
	// EntryPoint is the entry point the process runs: "bin/launch".
	EntryPoint string `json:"entry_point"`
	// PID is the process id; 0 when it is not running.
	PID int `json:"pid"`
	// LastExit is how the previous run ended; nil when it never exited.
	LastExit *Exit `json:"last_exit,omitempty"`
	// Restarts counts how often the supervisor restarted the process since
	// the pod was launched.
	Restarts int `json:"restarts"`
}

// Exit is how a process ended.
type Exit struct {
	// Code is the exit status; -1 when a signal ended the process.
	Code int `json:"code"`
	// Signal names the signal that ended the process, if one did.
	Signal string    `json:"signal,omitempty"`
	At     time.Time `json:"at"`
}

// Validate checks the record's required fields and enumerations.
func (p *PodStatus) Validate() error {
	var errs []error
	switch p.Status {
	case Launched, Removed, Failed:
	case "":
		errs = append(errs, errors.New("status: required"))
	default:
		errs = append(errs, fmt.Errorf("status: %q is not launched, removed or failed", p.Status))
	}
	switch p.Health {
	case Passing, Warning, Critical, Unknown:
	case "":
		errs = append(errs, errors.New("health: required"))
	default:
		errs = append(errs, fmt.Errorf("health: %q is not passing, warning, critical or unknown", p.Health))
	}
	if p.ManifestDigest == "" && p.Status == Launched {
		// A failed record may be about intent that could not be decoded,
		// whose digest nobody knows.
		errs = append(errs, errors.New("manifest_digest: required"))
	} else if p.ManifestDigest != "" && !isDigest(p.ManifestDigest) {
		errs = append(errs, fmt.Errorf("manifest_digest: want 64 lowercase hex digits, got %q", p.ManifestDigest))
	}
	if p.UpdatedAt.IsZero() {
		errs = append(errs, errors.New("updated_at: required"))
	}
	for i, proc := range p.Processes {
		if proc.EntryPoint == "" {
			errs = append(errs, fmt.Errorf("processes[%d].entry_point: required", i))
		}
		if proc.PID < 0 {
			errs = append(errs, fmt.Errorf("processes[%d].pid: negative", i))
		}
		if proc.Restarts < 0 {
			errs = append(errs, fmt.Errorf("processes[%d].restarts: negative", i))
		}
	}
	return errors.Join(errs...)
}

// UnmarshalJSON decodes a record strictly: unknown fields are refused.
func (p *PodStatus) UnmarshalJSON(data []byte) error {
	type plain PodStatus
	var v plain
	if err := wire.Strict(data, &v); err != nil {
		return err
	}
	*p = PodStatus(v)
	return nil
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
