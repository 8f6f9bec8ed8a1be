package daemonset

import (
	"context"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BatchedSchedule is the farm's write path on its own: ds's manifest and
// owner label onto every node, fenced, in transactions of at most 128
// operations, several in flight.
func BatchedSchedule(ctx context.Context, cli *clientv3.Client, fence farm.Fence, ds *DaemonSet, nodes []string) error {
	pl, err := labels.New(cli).Of(labels.Pod)
	if err != nil {
		return err
	}
	none := func(string) (labels.Set, bool) { return nil, false }
	work, err := scheduleOps(intent.NewStore(cli), pl, none, ds.ID, ds, nodes, true)
	if err != nil {
		return err
	}
	_, err = commitNodes(ctx, cli, fence, work)
	return err
}
