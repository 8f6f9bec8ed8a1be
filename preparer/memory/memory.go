// Package memory is an in-memory installer, launcher and health checker
// for the preparer: nothing is downloaded and no process starts. It serves
// simulations of large fleets, benchmarks and controller tests, where the
// cost of real pods would hide what is being measured.
package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
)

// Node is the simulated disk and process table of one node. It implements
// preparer.Installer, preparer.Launcher and preparer.HealthChecker.
type Node struct {
	// HealthyAfter is how long a launched pod reports warning before it
	// turns passing; zero means passing at once.
	HealthyAfter time.Duration
	// Unhealthy, when set, keeps a digest's pods critical forever: a
	// version that never becomes healthy.
	Unhealthy func(digest string) bool

	mu        sync.Mutex
	installed map[string]map[string]bool // pod -> digests on "disk"
	running   map[string]run
	nextPID   atomic.Int64
	installs  atomic.Int64
	removes   atomic.Int64
}

type run struct {
	digest string
	pid    int
	since  time.Time
}

// NewNode returns an empty node.
func NewNode() *Node {
	n := &Node{installed: map[string]map[string]bool{}, running: map[string]run{}}
	n.nextPID.Store(1000)
	return n
}

// Install implements preparer.Installer.
func (n *Node) Install(ctx context.Context, m *manifest.Manifest) (string, error) {
	d, err := m.Digest()
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.installed[m.ID] == nil {
		n.installed[m.ID] = map[string]bool{}
	}
	if !n.installed[m.ID][d] {
		n.installed[m.ID][d] = true
		n.installs.Add(1)
	}
	return "mem://" + m.ID + "/" + d, nil
}

// Hook implements preparer.Installer; there are no hooks.
func (n *Node) Hook(context.Context, *manifest.Manifest, string, string) error { return nil }

// Uninstall implements preparer.Installer.
func (n *Node) Uninstall(_ context.Context, pod string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.installed[pod]; ok {
		n.removes.Add(1)
	}
	delete(n.installed, pod)
	delete(n.running, pod)
	return nil
}

// Prune implements preparer.Installer.
func (n *Node) Prune(_ context.Context, pod, keep string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for d := range n.installed[pod] {
		if d != keep {
			delete(n.installed[pod], d)
		}
	}
	return nil
}

// Pods implements preparer.Installer.
func (n *Node) Pods() ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var pods []string
	for p := range n.installed {
		pods = append(pods, p)
	}
	sort.Strings(pods)
	return pods, nil
}

// Launch implements preparer.Launcher.
func (n *Node) Launch(_ context.Context, m *manifest.Manifest, dir string) error {
	d, err := m.Digest()
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.installed[m.ID][d] {
		return fmt.Errorf("launch %s: version %s is not installed", m.ID, d)
	}
	if r, ok := n.running[m.ID]; ok && r.digest == d {
		return nil
	}
	n.running[m.ID] = run{digest: d, pid: int(n.nextPID.Add(1)), since: time.Now()}
	return nil
}

// Stop implements preparer.Launcher.
func (n *Node) Stop(_ context.Context, pod string, _ time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.running, pod)
	return nil
}

// Running implements preparer.Launcher.
func (n *Node) Running(pod string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.running[pod]
	return r.digest, ok
}

// Processes implements preparer.Launcher: one process per running pod.
func (n *Node) Processes(pod string) ([]status.Process, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.running[pod]
	if !ok {
		return nil, nil
	}
	return []status.Process{{Launchable: "app", EntryPoint: manifest.DefaultEntryPoint, PID: r.pid}}, nil
}

// PID is the simulated pid of a running pod, 0 when it is not running.
func (n *Node) PID(pod string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running[pod].pid
}

// Check implements preparer.HealthChecker.
func (n *Node) Check(_ context.Context, m *manifest.Manifest, _ []status.Process) (status.Health, error) {
	n.mu.Lock()
	r, ok := n.running[m.ID]
	n.mu.Unlock()
	switch {
	case !ok:
		return status.Critical, fmt.Errorf("%s is not running", m.ID)
	case n.Unhealthy != nil && n.Unhealthy(r.digest):
		return status.Critical, fmt.Errorf("%s version %s is unhealthy", m.ID, r.digest)
	case time.Since(r.since) < n.HealthyAfter:
		return status.Warning, nil
	}
	return status.Passing, nil
}

// Installs counts versions installed; Removes counts pods uninstalled.
func (n *Node) Installs() int64 { return n.installs.Load() }

// Removes counts pods uninstalled.
func (n *Node) Removes() int64 { return n.removes.Load() }
