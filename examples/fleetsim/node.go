package main

import (
	"context"
	"maps"
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

	mu         sync.Mutex
	installs   map[string]int // pod -> Install calls
	uninstalls map[string]int // pod -> Uninstall calls that removed an installed pod
	noops      map[string]int // pod -> Uninstall calls that found nothing installed
	removedAt  []time.Time    // when each removal happened
}

func newSimNode(m *memory.Node) *simNode {
	return &simNode{Node: m, installs: map[string]int{}, uninstalls: map[string]int{}, noops: map[string]int{}}
}

// Install implements preparer.Installer, counting the call.
func (n *simNode) Install(ctx context.Context, m *manifest.Manifest) (string, error) {
	n.mu.Lock()
	n.installs[m.ID]++
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
		n.uninstalls[pod]++
		n.removedAt = append(n.removedAt, time.Now())
	} else {
		n.noops[pod]++
	}
	n.mu.Unlock()
	return n.Node.Uninstall(ctx, pod)
}

// podCalls is a copy of one node's counts.
type podCalls struct {
	installs, uninstalls, noops map[string]int
}

func (n *simNode) calls() podCalls {
	n.mu.Lock()
	defer n.mu.Unlock()
	return podCalls{installs: maps.Clone(n.installs), uninstalls: maps.Clone(n.uninstalls), noops: maps.Clone(n.noops)}
}

// since returns, per pod, how many more calls of each kind than in before.
func (c podCalls) since(before podCalls) podCalls {
	d := podCalls{installs: map[string]int{}, uninstalls: map[string]int{}, noops: map[string]int{}}
	for _, x := range []struct{ now, was, out map[string]int }{
		{c.installs, before.installs, d.installs},
		{c.uninstalls, before.uninstalls, d.uninstalls},
		{c.noops, before.noops, d.noops},
	} {
		for pod, v := range x.now {
			if v -= x.was[pod]; v != 0 {
				x.out[pod] = v
			}
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
