package podcluster_test

import (
	"encoding/json"
	"testing"

	"github.com/p2kit/p2kit/podcluster"
	"github.com/stretchr/testify/require"
)

func TestP2PodClusterDecodes(t *testing.T) {
	const p2 = `{"id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "pod_id": "web", "availability_zone": "us-west-2a",
		"name": "web", "pod_selector": "pod_id=web", "annotations": {"lb": {"port": 443}},
		"allocation_strategy": "static_strategy", "min_health_percentage": 50}`
	var c podcluster.PodCluster
	require.NoError(t, json.Unmarshal([]byte(p2), &c))
	require.NoError(t, c.Validate())
	require.Equal(t, "static", c.AllocationStrategy)

	out, err := json.Marshal(&c)
	require.NoError(t, err)
	var again podcluster.PodCluster
	require.NoError(t, json.Unmarshal(out, &again))
	require.Equal(t, c, again)

	c.AllocationStrategy = "sometimes"
	require.ErrorContains(t, c.Validate(), "allocation_strategy")
}
