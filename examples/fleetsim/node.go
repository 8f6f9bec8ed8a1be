package main

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/memory"
)

// simNode is one node's in-memory installer and launcher, counting the
// installer's calls per pod: the release phase checks that every held pod
// is uninstalled exactly once and nothing is installed again.
type simNode struct {
	*memory.Node

	mu        sync.Mutex
	counts    podCalls    // per pod the installer was called for
	removedAt []time.Time // when each removal happened
}

// podCount is the installer's calls for one pod: Install, Uninstall that
// removed an installed pod, and Uninstall that found nothing installed.
type podCount struct {
	pod                         string
	installs, uninstalls, noops int32
}

// podCalls are one node's counts, a pod at most once. A node runs a few
// pods, so a slice is searched faster, and costs the simulation's heap
// less, than a map per kind of call.
type podCalls []podCount

// of returns pod's counts (zero when it has none).
func (c podCalls) of(pod string) podCount {
	for _, x := range c {
		if x.pod == pod {
			return x
		}
	}
	return podCount{pod: pod}
}

func newSimNode(m *memory.Node) *simNode { return &simNode{Node: m} }

// count returns pod's counts to update; n.mu is held.
func (n *simNode) count(pod string) *podCount {
	for i := range n.counts {
		if n.counts[i].pod == pod {
			return &n.counts[i]
		}
	}
	n.counts = append(n.counts, podCount{pod: pod})
	return &n.counts[len(n.counts)-1]
}

// Install implements preparer.Installer, counting the call.
func (n *simNode) Install(ctx context.Context, m *manifest.Manifest) (string, error) {
	n.mu.Lock()
	n.count(m.ID).installs++
	n.mu.Unlock()
	return n.Node.Install(ctx, m)
}

// Uninstall implements preparer.Installer, counting the call as a removal
// when the pod was installed. The preparer locks each pod, so nothing
// installs the pod between the look and the call.
func (n *simNode) Uninstall(ctx context.Context, pod string) error {
	pods, _ := n.Pods()
	n.mu.Lock()
	if slices.Contains(pods, pod) {
		n.count(pod).uninstalls++
		n.removedAt = append(n.removedAt, time.Now())
	} else {
		n.count(pod).noops++
	}
	n.mu.Unlock()
	return n.Node.Uninstall(ctx, pod)
}

// calls returns a copy of the node's counts.
func (n *simNode) calls() podCalls {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.counts)
}

// since returns the pods with more calls than in before, and how many
// more of each kind.
func (c podCalls) since(before podCalls) podCalls {
	var d podCalls
	for _, x := range c {
		was := before.of(x.pod)
		x.installs -= was.installs
		x.uninstalls -= was.uninstalls
		x.noops -= was.noops
		if x.installs != 0 || x.uninstalls != 0 || x.noops != 0 {
			d = append(d, x)
		}
	}
	return d
}

// removals returns when the pods removed since t were removed, on every
// node.
func (s *sim) removals(since time.Time) []time.Time {
	var ts []time.Time
	for _, n := range s.mem {
		n.mu.Lock()
		for _, t := range n.removedAt {
			if !t.Before(since) {
				ts = append(ts, t)
			}
		}
		n.mu.Unlock()
	}
	return ts
}
