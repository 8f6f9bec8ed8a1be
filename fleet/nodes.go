package fleet

import (
	"iter"
	"slices"
	"sort"

	"github.com/p2kit/p2kit/labels"
)

// NodeList is a sorted, read-only list of nodes: the answer of
// MatchingNodes. It never changes once made, so it is safe to share.
type NodeList struct{ nodes []string }

// NewNodeList returns the list of nodes, sorted (it copies nodes).
func NewNodeList(nodes ...string) NodeList {
	s := slices.Clone(nodes)
	sort.Strings(s)
	return NodeList{nodes: slices.Compact(s)}
}

// Len is the number of nodes.
func (l NodeList) Len() int { return len(l.nodes) }

// Has reports whether node is in the list, by binary search.
func (l NodeList) Has(node string) bool {
	_, ok := slices.BinarySearch(l.nodes, node)
	return ok
}

// All yields the nodes in order.
func (l NodeList) All() iter.Seq[string] { return slices.Values(l.nodes) }

// Slice returns a copy of the nodes, sorted.
func (l NodeList) Slice() []string { return slices.Clone(l.nodes) }

// matchCache keeps MatchingNodes' answers for one generation of the node
// labels: a pass of every RC over the same selector scans and sorts the
// nodes once, not once per RC and pass.
type matchCache struct {
	gen   uint64
	names int // node names held, all selectors together
	bySel map[string]NodeList
}

// MatchingNodes returns the labelled nodes whose labels match sel. The
// answer is kept until the node labels change, so asking again with the
// same selector costs a map lookup, not a scan of the fleet (a farm
// reconciles many controllers over the same few selectors).
func (v *View) MatchingNodes(sel labels.Selector) NodeList {
	key := sel.String()
	m := v.NodeLabels
	m.mu.RLock()
	gen := m.gen
	m.mu.RUnlock()
	v.matchMu.Lock()
	if v.match.gen == gen {
		if l, ok := v.match.bySel[key]; ok {
			v.matchMu.Unlock()
			return l
		}
	}
	v.matchMu.Unlock()

	var nodes []string
	m.mu.RLock()
	gen = m.gen
	size := len(m.state)
	for _, o := range m.state {
		if sel.Matches(o.Value) {
			nodes = append(nodes, o.Name)
		}
	}
	m.mu.RUnlock()
	sort.Strings(nodes)
	l := NodeList{nodes: nodes}

	v.matchMu.Lock()
	defer v.matchMu.Unlock()
	if gen < v.match.gen {
		return l // older than what the cache holds
	}
	if gen > v.match.gen || v.match.bySel == nil {
		v.match = matchCache{gen: gen, bySel: map[string]NodeList{}}
	}
	// Bound the cache: at most four fleets' worth of names.
	if v.match.names+len(nodes) > 4*max(size, 1024) {
		v.match.bySel, v.match.names = map[string]NodeList{}, 0
	}
	v.match.bySel[key] = l
	v.match.names += len(nodes)
	return l
}

// NodesMatching lists the labelled nodes whose labels match sel, sorted:
// MatchingNodes(sel).Slice().
func (v *View) NodesMatching(sel labels.Selector) []string {
	return v.MatchingNodes(sel).Slice()
}
