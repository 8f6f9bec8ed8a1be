package fleet_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// indexed is what the view's indexes say, in one comparable form.
type indexed struct {
	ByOwner map[string][]string // IndexPodLabel("owner"): value -> pod names
	ByPod   []string            // PodLabelsOfPod("web")
	Intent  []string            // NodesWithIntent("web")
}

func namesOf(objs []*kv.Object[labels.Set]) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return out
}

func readIndexes(v *fleet.View, ix *fleet.Index[labels.Set], owners ...string) indexed {
	got := indexed{ByOwner: map[string][]string{}, ByPod: namesOf(v.PodLabelsOfPod("web")),
		Intent: append([]string{}, v.NodesWithIntent("web")...)}
	for _, o := range owners {
		got.ByOwner[o] = namesOf(ix.Get(o))
		if n := ix.Len(o); n != len(got.ByOwner[o]) {
			got.ByOwner[o] = append(got.ByOwner[o], "Len disagrees")
		}
	}
	return got
}

// scanned is what a scan of the whole mirror says: what the indexes must say.
func scanned(v *fleet.View, owners ...string) indexed {
	want := indexed{ByOwner: map[string][]string{}, ByPod: []string{}, Intent: []string{}}
	for _, o := range owners {
		want.ByOwner[o] = []string{}
	}
	v.PodLabels.Range(func(o *kv.Object[labels.Set]) bool {
		if owner, ok := o.Value["owner"]; ok {
			if _, asked := want.ByOwner[owner]; asked {
				want.ByOwner[owner] = append(want.ByOwner[owner], o.Name)
			}
		}
		if strings.HasSuffix(o.Name, "/web") {
			want.ByPod = append(want.ByPod, o.Name)
		}
		return true
	})
	v.Intent.Range(func(o *kv.Object[manifest.Manifest]) bool {
		if node, ok := strings.CutSuffix(o.Name, "/web"); ok {
			want.Intent = append(want.Intent, node)
		}
		return true
	})
	for _, s := range want.ByOwner {
		sort.Strings(s)
	}
	sort.Strings(want.ByPod)
	sort.Strings(want.Intent)
	return want
}

// TestPodLabelIndexes follows the view's indexes (pods by the value of a
// label key, pod labels by pod id, intent by pod id) through creates, a
// pod moving from one owner to another, deletes, and a relist after the
// view missed compacted history; at every step they agree with a scan of
// the mirror and with what was written.
func TestPodLabelIndexes(t *testing.T) {
	c := etcdtest.NewCluster(t, 3)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ls := labels.New(cli)
	is := intent.NewStore(cli)
	put := func(name string, set labels.Set) {
		t.Helper()
		_, err := ls.Put(ctx, labels.Pod, name, set)
		require.NoError(t, err)
	}
	for name, owner := range map[string]string{"n1/web": "x", "n2/web": "x", "n3/web": "y", "n1/db": "y"} {
		put(name, labels.Set{"owner": owner, "app": "a"})
	}
	put("n4/web", labels.Set{"app": "a"}) // no owner: in no owner's list
	// "n1-b/web" sorts before "n1/web", but node n1 before n1-b.
	for _, n := range []string{"n1", "n1-b", "n2", "n5"} {
		_, err := is.Set(ctx, n, pod("web"))
		require.NoError(t, err)
	}

	// The view reaches etcd through member 0 only, so that stopping it
	// makes the view miss history.
	m0 := c.Members[0]
	core, logs := observer.New(zap.InfoLevel)
	v := fleet.New(c.ClientFor(t, m0.Endpoint()), "/p2", failsafe.NewHolds(cli, "test"), zap.New(core))
	ix := v.IndexPodLabel("owner") // before Run: built as the mirror fills
	require.Same(t, ix, v.IndexPodLabel("owner"), "one index per label key")
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(rctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	require.NoError(t, v.WaitSynced(ctx))

	expect := func(what string, want indexed) {
		t.Helper()
		require.Eventually(t, func() bool {
			got := readIndexes(v, ix, "x", "y", "z")
			return equalIndexed(got, want) && equalIndexed(got, scanned(v, "x", "y", "z"))
		}, 60*time.Second, 10*time.Millisecond, "%s: indexes %+v, want %+v, scan %+v",
			what, readIndexes(v, ix, "x", "y", "z"), want, scanned(v, "x", "y", "z"))
	}
	expect("first listing", indexed{
		ByOwner: map[string][]string{"x": {"n1/web", "n2/web"}, "y": {"n1/db", "n3/web"}, "z": {}},
		ByPod:   []string{"n1/web", "n2/web", "n3/web", "n4/web"},
		Intent:  []string{"n1", "n1-b", "n2", "n5"},
	})
	// An index added after the first listing is built from the mirror.
	apps := v.IndexPodLabel("app")
	require.Equal(t, []string{"n1/db", "n1/web", "n2/web", "n3/web", "n4/web"}, apps.Names("a"))

	// Creates and a pod moving from owner x to owner y.
	put("n5/web", labels.Set{"owner": "z"})
	put("n2/web", labels.Set{"owner": "y", "app": "a"})
	expect("create and relabel", indexed{
		ByOwner: map[string][]string{"x": {"n1/web"}, "y": {"n1/db", "n2/web", "n3/web"}, "z": {"n5/web"}},
		ByPod:   []string{"n1/web", "n2/web", "n3/web", "n4/web", "n5/web"},
		Intent:  []string{"n1", "n1-b", "n2", "n5"},
	})
	// A pod losing its owner label leaves the owner's list.
	put("n5/web", labels.Set{"app": "b"})
	// Deletes.
	require.NoError(t, ls.Delete(ctx, labels.Pod, "n1/web"))
	require.NoError(t, is.Delete(ctx, "n1", "web"))
	expect("deletes", indexed{
		ByOwner: map[string][]string{"x": {}, "y": {"n1/db", "n2/web", "n3/web"}, "z": {}},
		ByPod:   []string{"n2/web", "n3/web", "n4/web", "n5/web"},
		Intent:  []string{"n1-b", "n2", "n5"},
	})
	require.Equal(t, []string{"n5/web"}, apps.Names("b"))

	// The view misses history that is then compacted: it relists, and the
	// indexes follow the relist's differences.
	m0.Stop(t)
	put("n6/web", labels.Set{"owner": "x"})
	put("n3/web", labels.Set{"owner": "x"})
	require.NoError(t, ls.Delete(ctx, labels.Pod, "n1/db"))
	require.NoError(t, is.Delete(ctx, "n2", "web"))
	_, err := is.Set(ctx, "n6", pod("web"))
	require.NoError(t, err)
	c.Compact(t, 0)
	m0.Restart(t)
	expect("relist after compaction", indexed{
		ByOwner: map[string][]string{"x": {"n3/web", "n6/web"}, "y": {"n2/web"}, "z": {}},
		ByPod:   []string{"n2/web", "n3/web", "n4/web", "n5/web", "n6/web"},
		Intent:  []string{"n1-b", "n5", "n6"},
	})
	require.NotZero(t, logs.FilterMessage("relisted").Len(), "the view relisted after the compaction")
}

func equalIndexed(a, b indexed) bool {
	if !slices.Equal(a.ByPod, b.ByPod) || !slices.Equal(a.Intent, b.Intent) || len(a.ByOwner) != len(b.ByOwner) {
		return false
	}
	for k, v := range a.ByOwner {
		if !slices.Equal(v, b.ByOwner[k]) {
			return false
		}
	}
	return true
}
