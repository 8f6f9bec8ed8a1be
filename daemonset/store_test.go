package daemonset_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func valid(id string) *daemonset.DaemonSet {
	return &daemonset.DaemonSet{
		ID:                id,
		PodID:             "hello",
		Manifest:          *storetest.Manifest("hello"),
		NodeSelector:      "role=edge",
		MinHealth:         1,
		Timeout:           daemonset.Duration(30 * time.Second),
		RateLimitInterval: daemonset.Duration(time.Second),
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness[daemonset.DaemonSet]{
		Open: func(t *testing.T, cli *clientv3.Client, root string) storetest.Store[daemonset.DaemonSet] {
			return storetest.Entity(daemonset.NewStore(cli, keyspace.WithPrefix(root)))
		},
		Key:   func(root, id string) string { return root + "/daemon_sets/" + id },
		ID:    func(i int) string { return fmt.Sprintf("ds-%d", i) },
		Valid: valid,
		Mutate: func(d *daemonset.DaemonSet) *daemonset.DaemonSet {
			c := *d
			c.Disabled = !c.Disabled
			return &c
		},
		InvalidIDs: []string{"Bad", "a/b", "a.", "x_"},
		MissingJSON: func(id string) string {
			return `{"id":"` + id + `","pod_id":"hello","node_selector":""}`
		},
		MissingField: "manifest",
		Incomplete: func(id string) *daemonset.DaemonSet {
			d := valid(id)
			d.PodID = ""
			return d
		},
		IncompleteField: "pod_id",
	})
}

func TestPodIDMustMatchManifest(t *testing.T) {
	d := valid("edge")
	d.PodID = "other"
	require.ErrorContains(t, d.Validate(), `pod_id: "other" does not match manifest id "hello"`)

	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := daemonset.NewStore(cli)
	_, err := s.Create(ctx, "alice", d)
	require.ErrorContains(t, err, "pod_id")
}

func TestDurationsAreStrings(t *testing.T) {
	b, err := json.Marshal(valid("edge"))
	require.NoError(t, err)
	require.Contains(t, string(b), `"timeout":"30s"`)
	require.Contains(t, string(b), `"rate_limit_interval":"1s"`)

	var d daemonset.DaemonSet
	require.NoError(t, json.Unmarshal(b, &d))
	require.Equal(t, 30*time.Second, d.Timeout.Std())

	bad := []byte(`{"id":"edge","pod_id":"hello","manifest":` + storetest.ManifestJSON("hello") + `,"timeout":30}`)
	require.ErrorContains(t, json.Unmarshal(bad, &d), "duration string")
}
