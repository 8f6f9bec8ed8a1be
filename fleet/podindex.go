package fleet

import (
	"sort"
	"strings"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
)

// byPodID indexes a pod's object ("<node>/<pod-id>") by its pod id.
func byPodID[T any](o *kv.Object[T]) (string, bool) {
	_, pod, ok := strings.Cut(o.Name, "/")
	return pod, ok && pod != "" && !strings.Contains(pod, "/")
}

// nodesOf returns the node of each pod name "<node>/<pod-id>", sorted:
// "a-b/web" sorts before "a/web", but "a" before "a-b".
func nodesOf(names []string) []string {
	nodes := make([]string, 0, len(names))
	for _, name := range names {
		node, _, _ := strings.Cut(name, "/")
		nodes = append(nodes, node)
	}
	sort.Strings(nodes)
	return nodes
}

// PodLabelsOfPod returns the pod label sets of pod id podID on every node,
// sorted by name ("<node>/<pod-id>"). It costs the nodes that have the pod
// labelled, not the fleet.
func (v *View) PodLabelsOfPod(podID string) []*kv.Object[labels.Set] {
	return v.podLabelsByPod.Get(podID)
}

// IndexPodLabel returns the index of pod labels by the value of label key:
// Get(value) lists the pods labelled key=value, at the cost of those pods,
// not the fleet. The RC farm indexes its pods by the RC id label this way;
// a farm of one's own kind can index its owner label too. Every call with
// the same key returns the same index, built on the first call from the
// mirror's state and kept up to date after.
func (v *View) IndexPodLabel(key string) *Index[labels.Set] {
	v.idxMu.Lock()
	defer v.idxMu.Unlock()
	if ix, ok := v.labelIdx[key]; ok {
		return ix
	}
	ix := v.PodLabels.AddIndex(func(o *kv.Object[labels.Set]) (string, bool) {
		val, ok := o.Value[key]
		return val, ok
	})
	v.labelIdx[key] = ix
	return ix
}
