package podcluster_test

import (
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Each guard of the cluster watch keeps DeleteCluster away on its own:
// NotEmpty when the only cluster is wiped (one delete of one is not a
// mass delete), MaxDeletes(1, 0.5) when two of three go in one
// transaction (one is left, so the state is not empty). An operator's
// release then delivers the deletes.
func TestEachGuardAloneKeepsDeleteClusterAway(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clusters []string
		deleted  []string
		guard    string
	}{
		{name: "not-empty", clusters: []string{"web"}, deleted: []string{"web"}, guard: "not-empty"},
		{name: "max-deletes", clusters: []string{"web", "api", "all"}, deleted: []string{"web", "api"}, guard: "max-deletes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "n1")
			sy := newCounting(podcluster.NewFileSyncer(w.dir))
			w.farm(sy, "farm")
			w.place("n1", labels.Set{"app": "hello"})
			for _, id := range tc.clusters {
				w.cluster(id, "app=hello")
			}
			for _, id := range tc.clusters {
				w.waitMembers(id, "n1:true")
			}

			ops := make([]clientv3.Op, 0, len(tc.deleted))
			for _, id := range tc.deleted {
				ops = append(ops, clientv3.OpDelete("/p2/pod_clusters/"+id))
			}
			resp, err := w.cli.Txn(w.ctx).Then(ops...).Commit()
			require.NoError(t, err)
			require.True(t, resp.Succeeded)

			var hold failsafe.Record
			require.Eventually(t, func() bool {
				holds, err := failsafe.ListHolds(w.ctx, w.cli, "/p2")
				if err != nil || len(holds) != 1 {
					return false
				}
				hold = holds[0]
				return true
			}, waitFor, 10*time.Millisecond, "the delete was not held")
			require.Equal(t, tc.guard, hold.Guard, "the guard that holds alone")
			require.Equal(t, len(tc.deleted), hold.Deletes)
			noDeletes := func() bool { _, d := sy.counts(); return len(d) == 0 }
			stays(t, time.Second, noDeletes, "a held delete reached DeleteCluster")
			for _, id := range tc.deleted {
				require.NotNil(t, w.members(id), "the file of %s was removed", id)
			}

			// The operator releases the hold: the deletes are delivered,
			// once each.
			require.NoError(t, failsafe.Release(w.ctx, w.cli, "/p2", hold.ID, "alice"))
			require.Eventually(t, func() bool {
				_, d := sy.counts()
				for _, id := range tc.deleted {
					if d[id] != 1 {
						return false
					}
				}
				return len(d) == len(tc.deleted)
			}, waitFor, 10*time.Millisecond, "the released deletes were not delivered")
			require.Eventually(t, func() bool {
				holds, err := failsafe.ListHolds(w.ctx, w.cli, "/p2")
				return err == nil && len(holds) == 0
			}, waitFor, 10*time.Millisecond, "the hold stayed after its release")
			for _, id := range tc.deleted {
				require.Nil(t, w.members(id), "the file of %s stayed", id)
			}
			stays(t, 500*time.Millisecond, func() bool {
				_, d := sy.counts()
				return len(d) == len(tc.deleted) && d[tc.deleted[0]] == 1
			}, "DeleteCluster called again")
		})
	}
}
