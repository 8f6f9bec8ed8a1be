package roll

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
)

// ErrCannotProgress says a roll can never step or complete on the fleet as
// it stands: its new RC has no node to schedule on, fewer nodes than the
// roll's desired replicas, or its minimum_replicas leaves no room to move.
var ErrCannotProgress = errors.New("roll cannot make progress")

// Check reports whether r could make progress on the fleet as it stands
// now: nil, or an error wrapping ErrCannotProgress that says why. It reads
// both RCs, the node labels, the pod labels and the intent of the new
// RC's pod id. A missing RC is kv.ErrNotFound naming its key. Create does
// not call it: an operator may start a roll that waits for nodes.
func (s *Store) Check(ctx context.Context, r *Roll) error {
	client := s.KV().Client()
	root := keyspace.WithPrefix(s.o.Root)
	rcs := rc.NewStore(client, root)
	newRC, err := rcs.Get(ctx, r.NewRC)
	if err != nil {
		return fmt.Errorf("new rc: %w", err)
	}
	oldRC, err := rcs.Get(ctx, r.OldRC)
	if err != nil {
		return fmt.Errorf("old rc: %w", err)
	}
	sel, err := labels.Parse(newRC.Value.NodeSelector)
	if err != nil {
		return fmt.Errorf("new rc %s: node_selector: %w", r.NewRC, err)
	}
	ls := labels.New(client, keyspace.WithPrefix(s.o.Root))
	matching, err := ls.Matching(ctx, labels.Node, sel)
	if err != nil {
		return fmt.Errorf("node labels: %w", err)
	}
	pods, err := ls.List(ctx, labels.Pod)
	if err != nil {
		return fmt.Errorf("pod labels: %w", err)
	}
	intents, err := intent.NewStore(client, keyspace.WithPrefix(s.o.Root)).ListAll(ctx)
	if err != nil {
		return fmt.Errorf("intent: %w", err)
	}
	pod := newRC.Value.Manifest.ID
	holders := map[string]string{}
	for _, o := range intents.Items {
		if node, p, _ := strings.Cut(o.Name, "/"); p == pod {
			holders[node] = ""
		}
	}
	for _, o := range pods.Items {
		if node, p, _ := strings.Cut(o.Name, "/"); p == pod {
			holders[node] = o.Value[rc.IDLabel]
		}
	}
	if why := blocker(r, &newRC.Value, &oldRC.Value, matching, holders); why != "" {
		return fmt.Errorf("%w: %s", ErrCannotProgress, why)
	}
	return nil
}

// blocker says why roll r cannot make progress, or "". matching lists the
// nodes the new RC's selector matches; holders maps each node that runs
// (or is labelled with) the new RC's pod id to the RC that holds it there,
// "" when no RC does. oldRC may be nil. One pod id runs at most once per
// node, so when both RCs run the same pod id a node held by the old RC
// becomes free only as the old RC shrinks.
func blocker(r *Roll, newRC, oldRC *rc.RC, matching []string, holders map[string]string) string {
	if newRC.Disabled {
		return fmt.Sprintf("new rc %s is disabled: it schedules nothing", newRC.ID)
	}
	pod := newRC.Manifest.ID
	samePod := oldRC != nil && oldRC.Manifest.ID == pod
	usable := map[string]bool{}
	for _, n := range matching {
		h, held := holders[n]
		if held && h != newRC.ID && (!samePod || h != oldRC.ID) {
			continue // another RC's (or an unowned) pod of the same id
		}
		usable[n] = true
	}
	sel := newRC.NodeSelector
	switch {
	case len(matching) == 0:
		return fmt.Sprintf("new rc %s can schedule on no node: its node_selector %q matches no labelled node", newRC.ID, sel)
	case len(usable) == 0:
		return fmt.Sprintf("new rc %s can schedule on no node: all %d nodes its node_selector %q matches run pod %s for something else",
			newRC.ID, len(matching), sel, pod)
	case r.DesiredReplicas > len(usable):
		return fmt.Sprintf("desired_replicas is %d but new rc %s can schedule on only %d nodes (node_selector %q)",
			r.DesiredReplicas, newRC.ID, len(usable), sel)
	}
	if !samePod || r.MinimumReplicas == 0 {
		return ""
	}
	capacity := len(usable)
	for n, h := range holders {
		if h == oldRC.ID && !usable[n] {
			capacity++
		}
	}
	if r.MinimumReplicas >= capacity {
		return fmt.Sprintf("minimum_replicas %d is not below the %d nodes that can run pod %s (one per node): "+
			"no old pod can go without dropping below the minimum, and no new pod has a free node",
			r.MinimumReplicas, capacity, pod)
	}
	return ""
}

// viewBlocker is blocker over the farm's fleet view.
func (f *Farm) viewBlocker(r *Roll, newRC, oldRC *rc.RC) string {
	sel, err := labels.Parse(newRC.NodeSelector)
	if err != nil {
		return fmt.Sprintf("new rc %s: node_selector: %v", newRC.ID, err)
	}
	pod := newRC.Manifest.ID
	holders := map[string]string{}
	for _, n := range f.view.NodesWithIntent(pod) {
		holders[n] = ""
	}
	for _, o := range f.view.PodLabelsOfPod(pod) {
		node, _, _ := strings.Cut(o.Name, "/")
		holders[node] = o.Value[rc.IDLabel]
	}
	return blocker(r, newRC, oldRC, f.view.NodesMatching(sel), holders)
}
