// Package memory is an in-memory installer, launcher and health checker
// for the preparer: nothing is downloaded and no process starts. It serves
// simulations of large fleets, benchmarks and controller tests, where the
// cost of real pods would hide what is being measured.
package memory

import (
	"context"
	"fmt"
	"slices"
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

	// A node holds a few pods: a slice searched in order costs a fraction
	// of a map's memory (a map's first group has room for eight), and a
	// simulated fleet keeps a node per simulated node.
	mu       sync.Mutex
	pods     []pod // installed, in the order they were first installed
	nextPID  atomic.Int64
	installs atomic.Int64
	removes  atomic.Int64
}

// pod is a pod on the simulated disk: the versions installed, and the one
// running, if any.
type pod struct {
	id      string
	digests []string
	running bool
	run     run
}

type run struct {
	digest string
	pid    int
	since  time.Time
}

// NewNode returns an empty node.
func NewNode() *Node {
	n := &Node{}
	n.nextPID.Store(1000)
	return n
}

// find returns pod id, nil when it is not installed. n.mu is held.
func (n *Node) find(id string) *pod {
	for i := range n.pods {
		if n.pods[i].id == id {
			return &n.pods[i]
		}
	}
	return nil
}

// Install implements preparer.Installer.
func (n *Node) Install(ctx context.Context, m *manifest.Manifest) (string, error) {
	d, err := m.Digest()
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.find(m.ID)
	if p == nil {
		n.pods = append(n.pods, pod{id: m.ID})
		p = &n.pods[len(n.pods)-1]
	}
	if !slices.Contains(p.digests, d) {
		p.digests = append(p.digests, d)
		n.installs.Add(1)
	}
	return "mem://" + m.ID + "/" + d, nil
}

// Hook implements preparer.Installer; there are no hooks.
func (n *Node) Hook(context.Context, *manifest.Manifest, string, string) error { return nil }

// Uninstall implements preparer.Installer.
func (n *Node) Uninstall(_ context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.pods {
		if n.pods[i].id == id {
			n.removes.Add(1)
			n.pods = slices.Delete(n.pods, i, i+1)
			break
		}
	}
	if len(n.pods) == 0 {
		n.pods = nil
	}
	return nil
}

// Prune implements preparer.Installer.
func (n *Node) Prune(_ context.Context, id, keep string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.find(id); p != nil {
		p.digests = slices.DeleteFunc(p.digests, func(d string) bool { return d != keep })
	}
	return nil
}

// Pods implements preparer.Installer.
func (n *Node) Pods() ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var pods []string
	for _, p := range n.pods {
		pods = append(pods, p.id)
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
	p := n.find(m.ID)
	if p == nil || !slices.Contains(p.digests, d) {
		return fmt.Errorf("launch %s: version %s is not installed", m.ID, d)
	}
	if p.running && p.run.digest == d {
		return nil
	}
	p.running, p.run = true, run{digest: d, pid: int(n.nextPID.Add(1)), since: time.Now()}
	return nil
}

// Stop implements preparer.Launcher.
func (n *Node) Stop(_ context.Context, id string, _ time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.find(id); p != nil {
		p.running, p.run = false, run{}
	}
	return nil
}

// running returns the run of pod id, if it runs.
func (n *Node) running(id string) (run, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.find(id); p != nil && p.running {
		return p.run, true
	}
	return run{}, false
}

// Running implements preparer.Launcher.
func (n *Node) Running(id string) (string, bool) {
	r, ok := n.running(id)
	return r.digest, ok
}

// Processes implements preparer.Launcher: one process per running pod.
func (n *Node) Processes(id string) ([]status.Process, error) {
	r, ok := n.running(id)
	if !ok {
		return nil, nil
	}
	return []status.Process{{Launchable: "app", EntryPoint: manifest.DefaultEntryPoint, PID: r.pid}}, nil
}

// PID is the simulated pid of a running pod, 0 when it is not running.
func (n *Node) PID(id string) int {
	r, _ := n.running(id)
	return r.pid
}

// Check implements preparer.HealthChecker.
func (n *Node) Check(_ context.Context, m *manifest.Manifest, _ []status.Process) (status.Health, error) {
	r, ok := n.running(m.ID)
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
