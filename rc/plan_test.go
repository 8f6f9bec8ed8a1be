package rc

import (
	"testing"

	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
)

func refs(pod string, nodes ...string) []podRef {
	var out []podRef
	for _, n := range nodes {
		out = append(out, podRef{Node: n, Pod: pod, Labels: &kv.Object[labels.Set]{Name: n + "/" + pod}})
	}
	return out
}

func nodesOf(ps []podRef) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Node)
	}
	return out
}

func TestPlace(t *testing.T) {
	all := []string{"a", "b", "c", "d", "e"}
	everyone := func(podRef) bool { return true }
	for _, tc := range []struct {
		name     string
		want     int
		matching []string
		mine     []podRef
		busy     map[string]bool
		healthy  func(podRef) bool
		add      []string
		remove   []string
		keep     []string
		message  string
	}{
		{name: "from nothing, in name order", want: 3, matching: all, add: []string{"a", "b", "c"},
			remove: []string{}, keep: []string{}},
		{name: "existing pods stay", want: 3, matching: all, mine: refs("web", "d", "b"),
			add: []string{"a"}, remove: []string{}, keep: []string{"b", "d"}},
		{name: "busy nodes are skipped", want: 2, matching: all, busy: map[string]bool{"a": true},
			add: []string{"b", "c"}, remove: []string{}, keep: []string{}},
		{name: "scale down from the end", want: 2, matching: all, mine: refs("web", all...),
			add: []string{}, remove: []string{"e", "d", "c"}, keep: []string{"a", "b"}},
		{name: "scale down unhealthy first", want: 2, matching: all, mine: refs("web", "a", "b", "c"),
			healthy: func(p podRef) bool { return p.Node != "a" },
			add:     []string{}, remove: []string{"a"}, keep: []string{"b", "c"}},
		{name: "a node that stops matching is replaced", want: 2, matching: []string{"b", "c", "d"},
			mine: refs("web", "a", "b"), add: []string{"c"}, remove: []string{"a"}, keep: []string{"b"}},
		{name: "no replacement: the pod stays", want: 2, matching: []string{"b"},
			mine: refs("web", "a", "b"), add: []string{}, remove: []string{}, keep: []string{"b"},
			message: "1 of 2 replicas cannot be placed: 1 nodes match, 0 of them free; " +
				"1 pods on nodes that no longer match stay until they can be replaced"},
		{name: "another pod id is replaced", want: 1, matching: all, mine: refs("old", "a"),
			add: []string{"a"}, remove: []string{"a"}, keep: []string{}},
		{name: "zero", want: 0, matching: all, mine: refs("web", "a", "c"),
			add: []string{}, remove: []string{"c", "a"}, keep: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.healthy
			if h == nil {
				h = everyone
			}
			pl := place(tc.want, fleet.NewNodeList(tc.matching...), tc.mine, "web", tc.busy, h)
			require.Equal(t, tc.add, append([]string{}, pl.Add...), "add")
			require.Equal(t, tc.remove, nodesOf(pl.Remove), "remove")
			require.Equal(t, tc.keep, nodesOf(pl.Keep), "keep")
			require.Equal(t, tc.message, pl.Message)
		})
	}
}
