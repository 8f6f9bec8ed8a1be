package failsafe_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// namedGuard is a guard of a chain under test.
type namedGuard struct {
	name string
	make func(h *failsafe.Holds) failsafe.Guard[item]
}

var (
	gRequire = namedGuard{"require-key", func(h *failsafe.Holds) failsafe.Guard[item] { return failsafe.RequireKey[item](h, self) }}
	gEmpty   = namedGuard{"not-empty", func(h *failsafe.Holds) failsafe.Guard[item] { return failsafe.NotEmpty[item](h) }}
	gMax2    = namedGuard{"max-deletes(2,0.5)", func(h *failsafe.Holds) failsafe.Guard[item] { return failsafe.MaxDeletes[item](h, 2, 0.5) }}
	gMax1    = namedGuard{"max-deletes(1,0.5)", func(h *failsafe.Holds) failsafe.Guard[item] { return failsafe.MaxDeletes[item](h, 1, 0.5) }}
	gContent = namedGuard{"no-bad", func(h *failsafe.Holds) failsafe.Guard[item] { return noBad(h) }}
)

// noBad is a content guard like the package Example's: it holds while any
// value is marked bad.
func noBad(h *failsafe.Holds) failsafe.Guard[item] {
	return failsafe.HoldIf(h, "no-bad", func(_ context.Context, c failsafe.Change[item]) failsafe.Verdict {
		var bad []string
		c.Each(func(name string, t kv.EventType) bool {
			if o, ok := c.After.Get(name); ok && t != kv.Delete && o.Value.S == "bad" {
				bad = append(bad, name)
			}
			return true
		})
		if len(bad) > 0 {
			return failsafe.HoldFor(fmt.Sprintf("bad values: %s", strings.Join(bad, ",")))
		}
		return failsafe.Pass
	})
}

func permutations(gs []namedGuard) [][]namedGuard {
	if len(gs) <= 1 {
		return [][]namedGuard{gs}
	}
	var out [][]namedGuard
	for i := range gs {
		rest := append(append([]namedGuard(nil), gs[:i]...), gs[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]namedGuard{gs[i]}, p...))
		}
	}
	return out
}

// history is a scripted sequence of writes; release steps release the
// consumer's hold.
type step struct {
	what    string
	ops     []clientv3.Op
	release bool
}

func put(dir, n string, v int, s string) clientv3.Op {
	return clientv3.OpPut(dir+n, fmt.Sprintf(`{"n":%d,"s":%q}`, v, s))
}

func orderHistory(dir string) []step {
	pods := []string{"api", "cron", "web", "worker", "zipkin", self}
	var steps []step
	var fill []clientv3.Op
	for i, p := range pods {
		fill = append(fill, put(dir, p, i, "v"))
	}
	steps = append(steps,
		step{what: "fill", ops: fill},
		step{what: "mutate api", ops: []clientv3.Op{put(dir, "api", 10, "v")}},
		step{what: "delete cron", ops: []clientv3.Op{clientv3.OpDelete(dir + "cron")}},
		step{what: "wipe", ops: []clientv3.Op{clientv3.OpDelete(dir, clientv3.WithPrefix())}},
	)
	// Restore in sorted order, key by key, with a create and a mutation
	// in between.
	for i, p := range []string{"api", self, "web"} {
		steps = append(steps, step{what: "restore " + p, ops: []clientv3.Op{put(dir, p, []int{10, 5, 2}[i], "v")}})
	}
	steps = append(steps,
		step{what: "create new", ops: []clientv3.Op{put(dir, "new", 20, "v")}},
		step{what: "restore worker changed", ops: []clientv3.Op{put(dir, "worker", 33, "v")}},
		step{what: "restore zipkin", ops: []clientv3.Op{put(dir, "zipkin", 4, "v")}},
		step{what: "delete self, web, new", ops: []clientv3.Op{
			clientv3.OpDelete(dir + self), clientv3.OpDelete(dir + "web"), clientv3.OpDelete(dir + "new")}},
		step{what: "restore self", ops: []clientv3.Op{put(dir, self, 5, "v")}},
		step{what: "bad api", ops: []clientv3.Op{put(dir, "api", 11, "bad")}},
		step{what: "release", release: true},
		step{what: "good api", ops: []clientv3.Op{put(dir, "api", 12, "v")}},
		step{what: "wipe again", ops: []clientv3.Op{clientv3.OpDelete(dir, clientv3.WithPrefix())}},
		step{what: "restore zipkin", ops: []clientv3.Op{put(dir, "zipkin", 4, "v")}},
		step{what: "restore worker", ops: []clientv3.Op{put(dir, "worker", 33, "v")}},
		step{what: "restore api bad", ops: []clientv3.Op{put(dir, "api", 12, "bad")}},
		step{what: "restore self", ops: []clientv3.Op{put(dir, self, 5, "v")}},
		step{what: "api good", ops: []clientv3.Op{put(dir, "api", 12, "v")}},
		step{what: "delete 3 of 4", ops: []clientv3.Op{
			clientv3.OpDelete(dir + "zipkin"), clientv3.OpDelete(dir + "worker"), clientv3.OpDelete(dir + "api")}},
		step{what: "release", release: true},
		step{what: "create a", ops: []clientv3.Op{put(dir, "a", 1, "v")}},
	)
	return steps
}

// Every order of the guards of a chain gives the consumer the same
// batches for the same history, and the same holds.
func TestChainOrderDoesNotChangeDeliveries(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	for _, ch := range []struct {
		name   string
		guards []namedGuard
	}{
		{"preparer", []namedGuard{gRequire, gMax2}},
		{"pod-cluster", []namedGuard{gEmpty, gMax1}},
		{"readme-own-guard", []namedGuard{gContent, gMax2}},
		{"content-example", []namedGuard{gContent, gMax2, gEmpty}},
		{"all", []namedGuard{gRequire, gEmpty, gMax2, gContent}},
	} {
		t.Run(ch.name, func(t *testing.T) {
			var want []string
			var wantOrder string
			for i, order := range permutations(ch.guards) {
				var names []string
				for _, g := range order {
					names = append(names, g.name)
				}
				got := runOrder(t, cli, fmt.Sprintf("/order-%s-%d", ch.name, i), order)
				if want == nil {
					want, wantOrder = got, strings.Join(names, " > ")
					continue
				}
				require.Equal(t, want, got, "order %s delivers differently from %s", strings.Join(names, " > "), wantOrder)
			}
			t.Logf("%d orders, %d deliveries and hold states each", len(permutations(ch.guards)), len(want))
		})
	}
}

// runOrder runs the history under root with the guards in order and
// returns what the consumer was given and the hold state after each step.
func runOrder(t *testing.T, cli *clientv3.Client, root string, order []namedGuard) []string {
	dir := root + "/items/"
	h := failsafe.NewHolds(cli, "order", failsafe.WithPrefix(root))
	var guards []failsafe.Guard[item]
	for _, g := range order {
		guards = append(guards, g.make(h))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cons := newConsumer(ctx, "consumer", kv.New[item](cli, root+"/items"), h, guards...)
	var out []string
	for _, st := range orderHistory(dir) {
		if st.release {
			cons.released(t, cli, root)
		} else {
			resp, err := cli.Txn(ctxT(t)).Then(st.ops...).Commit()
			require.NoError(t, err)
			cons.until(t, resp.Header.Revision)
		}
		out = append(out, st.what+": "+strings.Join(cons.log, " | ")+" / "+cons.holdState())
		cons.log = nil
	}
	return out
}
