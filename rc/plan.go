package rc

import (
	"fmt"
	"slices"
	"sort"

	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
)

// podRef is one pod of an RC, as the fleet view shows its pod labels.
type podRef struct {
	Node   string
	Pod    string
	Labels *kv.Object[labels.Set]
}

func (p podRef) name() string { return p.Node + "/" + p.Pod }

// placement is what an RC needs now: where to schedule, what to unschedule.
type placement struct {
	Add    []string // nodes to schedule the pod on, in order
	Keep   []podRef // pods that stay
	Remove []podRef // pods to unschedule once the additions are written
	// Message says why the RC cannot reach its desired count, if so.
	Message string
}

// place decides the pods of an RC. want is replicas_desired; matching the
// nodes its selector matches; mine its pods; pod its pod id; busy
// the nodes where another RC (or anything but this RC) has pod; healthy
// tells whether one of mine runs the RC's manifest healthily.
//
// Pods on matching nodes stay where they are. Missing pods go to the first
// free matching nodes in name order. A pod whose node stops matching (or
// that runs another pod id) is replaced first: it is removed only when the
// pods that stay, with those added, reach want. Scaling down removes such
// pods first, then unhealthy ones, then from the end of the name order.
func place(want int, matching fleet.NodeList, mine []podRef, pod string, busy map[string]bool, healthy func(podRef) bool) placement {
	var good, bad []podRef
	has := map[string]bool{}
	for _, p := range mine {
		if p.Pod == pod && matching.Has(p.Node) && !has[p.Node] {
			good = append(good, p)
			has[p.Node] = true
			continue
		}
		bad = append(bad, p)
	}
	sort.Slice(good, func(i, j int) bool { return good[i].Node < good[j].Node })
	sort.Slice(bad, func(i, j int) bool { return bad[i].name() < bad[j].name() })

	var pl placement
	need := max(0, want-len(good))
	for n := range matching.All() {
		if len(pl.Add) == need {
			break
		}
		if !has[n] && !busy[n] {
			pl.Add = append(pl.Add, n)
		}
	}
	if short := need - len(pl.Add); short > 0 {
		pl.Message = fmt.Sprintf("%d of %d replicas cannot be placed: %d nodes match, %d of them free",
			short, want, matching.Len(), matching.Len()-len(good)-countBusy(matching, busy, has))
	}

	// Removal order: pods on nodes that stopped matching, then unhealthy
	// pods, then the end of the name order.
	order := append([]podRef{}, bad...)
	var sick, fine []podRef
	for _, p := range good {
		if healthy(p) {
			fine = append(fine, p)
		} else {
			sick = append(sick, p)
		}
	}
	slices.Reverse(sick)
	slices.Reverse(fine)
	order = append(order, sick...)
	order = append(order, fine...)

	excess := max(0, len(good)+len(bad)+len(pl.Add)-want)
	removed := map[string]bool{}
	for _, p := range order[:excess] {
		pl.Remove = append(pl.Remove, p)
		removed[p.name()] = true
	}
	for _, p := range good {
		if !removed[p.name()] {
			pl.Keep = append(pl.Keep, p)
		}
	}
	if kept := len(bad) - countRemoved(bad, removed); kept > 0 {
		msg := fmt.Sprintf("%d pods on nodes that no longer match stay until they can be replaced", kept)
		if pl.Message != "" {
			msg = pl.Message + "; " + msg
		}
		pl.Message = msg
	}
	return pl
}

func countBusy(nodes fleet.NodeList, busy, has map[string]bool) int {
	n := 0
	for node := range nodes.All() {
		if busy[node] && !has[node] {
			n++
		}
	}
	return n
}

func countRemoved(ps []podRef, removed map[string]bool) int {
	n := 0
	for _, p := range ps {
		if removed[p.name()] {
			n++
		}
	}
	return n
}
