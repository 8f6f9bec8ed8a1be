package failsafe_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// propConsumer is a consumer of the property test with what it must
// never be given: the delete of a key deleted while it was held, unless a
// release delivered it.
type propConsumer struct {
	*consumer
	// deletedWhileHeld are the keys deleted in etcd while the consumer
	// was held and not delivered since.
	deletedWhileHeld map[string]bool
}

// TestChainProperty runs random histories against consumers with random
// chains and checks two invariants after every step:
//   - a consumer never receives the delete of a key deleted while it was
//     held, unless a release delivered it;
//   - once the history is quiet, a consumer's view equals etcd's state, or
//     it has a hold recorded.
//
// The seed is logged; P2KIT_SEED replays one.
func TestChainProperty(t *testing.T) {
	seed := rand.Uint64()
	if s := os.Getenv("P2KIT_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (replay with P2KIT_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	histories, steps := 20, 30
	if testing.Short() {
		histories = 8
	}
	c := etcdtest.New(t)
	cli := c.Client(t)
	keys := 0
	for i := range histories {
		keys += runProperty(t, cli, rng, fmt.Sprintf("/prop%d", i), steps)
	}
	t.Logf("%d histories of %d steps, %d keys in all", histories, steps, keys)
}

var allGuards = []namedGuard{gRequire, gEmpty, gMax2, gMax1, gContent}

// runProperty runs one random history and returns how many keys it used.
func runProperty(t *testing.T, cli *clientv3.Client, rng *rand.Rand, root string, steps int) int {
	dir := root + "/items/"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	store := kv.New[item](cli, root+"/items")

	// A random pod set, self among them.
	n := 3 + rng.IntN(8)
	pods := []string{self}
	for i := range n {
		pods = append(pods, fmt.Sprintf("pod%02d", i))
	}
	used := map[string]bool{}
	var ops []clientv3.Op
	for _, p := range pods {
		ops = append(ops, put(dir, p, rng.IntN(3), "v"))
		used[p] = true
	}
	_, err := cli.Txn(ctxT(t)).Then(ops...).Commit()
	require.NoError(t, err)

	// Three consumers with random chains, over one shared Holds or each
	// its own.
	shared := rng.IntN(2) == 0
	var cons []*propConsumer
	var sharedH *failsafe.Holds
	for i := range 3 {
		var h *failsafe.Holds
		switch {
		case shared && sharedH != nil:
			h = sharedH
		default:
			h = failsafe.NewHolds(cli, fmt.Sprintf("c%d", i), failsafe.WithPrefix(root))
			if shared {
				sharedH = h
			}
		}
		perm := rng.Perm(len(allGuards))[:1+rng.IntN(len(allGuards))]
		var guards []failsafe.Guard[item]
		var names []string
		for _, j := range perm {
			guards = append(guards, allGuards[j].make(h))
			names = append(names, allGuards[j].name)
		}
		name := fmt.Sprintf("%s/c%d%v", root, i, names)
		cons = append(cons, &propConsumer{consumer: newConsumer(ctx, name, store, h, guards...), deletedWhileHeld: map[string]bool{}})
	}
	// With a shared Holds, a release ends the holds of every consumer:
	// releasing one consumer releases them all.
	check := func(rev int64, deleted []string, released bool) {
		for _, c := range cons {
			if released && !failsafe.Held(c.src) {
				// The release delivered whatever it held.
				clear(c.deletedWhileHeld)
			}
			for _, b := range c.until(t, rev) {
				if b.Released {
					clear(c.deletedWhileHeld)
					continue
				}
				for _, ev := range b.Events {
					require.False(t, ev.Type == kv.Delete && c.deletedWhileHeld[ev.Name],
						"%s was given the delete of %s, deleted while held, without a release: %s", c.name, ev.Name, c.log)
				}
			}
			switch {
			case failsafe.Held(c.src):
				for _, k := range deleted {
					c.deletedWhileHeld[k] = true
				}
			default:
				// Not held (any more): every key deleted while held is
				// back, or a release delivered it.
				clear(c.deletedWhileHeld)
			}
			// Quiet: the view is etcd's, or a hold is recorded.
			if !failsafe.Held(c.src) {
				require.Equal(t, etcdState(t, cli, dir), c.view, "%s: view differs from etcd with no hold: %s", c.name, c.log)
			}
		}
	}
	resp, err := cli.Get(ctxT(t), dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	check(resp.Header.Revision, nil, false)

	present := func() []string {
		var out []string
		for k := range etcdState(t, cli, dir) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	missing := func() []string {
		have := etcdState(t, cli, dir)
		var out []string
		for k := range used {
			if _, ok := have[k]; !ok {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	for range steps {
		var ops []clientv3.Op
		var deleted []string
		p, r := present(), rng.IntN(100)
		switch {
		case r < 8: // release the holds of a random consumer's Holds
			h := cons[rng.IntN(len(cons))].h
			var sharing []*consumer
			for _, c := range cons {
				if c.h == h {
					sharing = append(sharing, c.consumer)
				}
			}
			if releaseAll(t, cli, root, h, sharing) {
				resp, err := cli.Get(ctxT(t), dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
				require.NoError(t, err)
				check(resp.Header.Revision, nil, true)
			}
			continue
		case r < 16 && len(p) > 0: // wipe
			ops = append(ops, clientv3.OpDelete(dir, clientv3.WithPrefix()))
			deleted = p
		case r < 30 && len(p) > 1: // partial wipe of a random subset
			rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
			for _, k := range p[:1+rng.IntN(len(p)-1)] {
				ops = append(ops, clientv3.OpDelete(dir+k))
				deleted = append(deleted, k)
			}
		case r < 40 && len(p) > 0: // single delete
			k := p[rng.IntN(len(p))]
			ops = append(ops, clientv3.OpDelete(dir+k))
			deleted = append(deleted, k)
		case r < 70 && len(missing()) > 0: // restore one key, maybe changed
			m := missing()
			ops = append(ops, put(dir, m[rng.IntN(len(m))], rng.IntN(3), "v"))
		case r < 78: // create
			k := fmt.Sprintf("new%03d", len(used))
			used[k] = true
			ops = append(ops, put(dir, k, rng.IntN(3), "v"))
		case r < 83 && len(p) > 0: // a bad value, which the content guard holds
			ops = append(ops, put(dir, p[rng.IntN(len(p))], rng.IntN(3), "bad"))
		case len(p) > 0: // mutate
			ops = append(ops, put(dir, p[rng.IntN(len(p))], rng.IntN(3), "v"))
		default:
			continue
		}
		resp, err := cli.Txn(ctxT(t)).Then(ops...).Commit()
		require.NoError(t, err)
		check(resp.Header.Revision, deleted, false)
	}
	return len(used)
}
