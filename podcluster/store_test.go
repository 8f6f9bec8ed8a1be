package podcluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func valid(id string) *podcluster.PodCluster {
	return &podcluster.PodCluster{
		ID:                  id,
		PodID:               "hello",
		AvailabilityZone:    "us-east-1a",
		Name:                "name-" + id,
		PodSelector:         "app=hello",
		Annotations:         map[string]any{"lb": "internal", "port": 8080.0},
		MinHealthPercentage: 50,
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness[podcluster.PodCluster]{
		Open: func(t *testing.T, cli *clientv3.Client, root string) storetest.Store[podcluster.PodCluster] {
			return storetest.Entity(podcluster.NewStore(cli, keyspace.WithPrefix(root)))
		},
		Key:   func(root, id string) string { return root + "/pod_clusters/" + id },
		ID:    func(i int) string { return fmt.Sprintf("pc-%d", i) },
		Valid: valid,
		Mutate: func(c *podcluster.PodCluster) *podcluster.PodCluster {
			n := *c
			n.MinHealthPercentage = (n.MinHealthPercentage + 10) % 100
			return &n
		},
		InvalidIDs: []string{"Bad", "a/b", "ä", "a\x00"},
		MissingJSON: func(id string) string {
			return `{"id":"` + id + `","pod_id":"hello","availability_zone":"az1","name":"n"}`
		},
		MissingField: "pod_selector",
		Incomplete: func(id string) *podcluster.PodCluster {
			c := valid(id)
			c.AvailabilityZone = ""
			return c
		},
		IncompleteField: "availability_zone",
	})
}

func setup(t *testing.T) (context.Context, *podcluster.Store) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, podcluster.NewStore(cli)
}

func TestUnique(t *testing.T) {
	ctx, s := setup(t)
	a := valid("a")
	a.Name = "web"
	_, err := s.Create(ctx, "alice", a)
	require.NoError(t, err)

	dup := valid("b")
	dup.Name = "web"
	_, err = s.Create(ctx, "alice", dup)
	require.ErrorIs(t, err, podcluster.ErrDuplicate)
	require.ErrorContains(t, err, `hello/us-east-1a/web is cluster "a"`)

	// Another zone, pod or name is another cluster.
	dup.AvailabilityZone = "us-east-1b"
	b, err := s.Create(ctx, "alice", dup)
	require.NoError(t, err)

	// An update may not make a duplicate either, but may keep its own
	// triple.
	next := b.Value
	next.AvailabilityZone = "us-east-1a"
	_, err = s.Update(ctx, "alice", b, &next)
	require.ErrorIs(t, err, podcluster.ErrDuplicate)
	next = b.Value
	next.MinHealthPercentage = 80
	_, err = s.Update(ctx, "alice", b, &next)
	require.NoError(t, err)
}

func TestUniqueUnderRace(t *testing.T) {
	ctx, s := setup(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := valid(fmt.Sprintf("c%d", i))
			c.Name = "same"
			_, errs[i] = s.Create(ctx, "alice", c)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.ErrorIs(t, err, podcluster.ErrDuplicate)
	}
	require.Equal(t, 1, won)
}

func TestValidation(t *testing.T) {
	c := valid("a")
	c.PodSelector = "app in (a"
	require.ErrorContains(t, c.Validate(), "pod_selector")
	c = valid("a")
	c.MinHealthPercentage = 101
	require.ErrorContains(t, c.Validate(), "min_health_percentage")
}
