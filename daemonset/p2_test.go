package daemonset_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/stretchr/testify/require"
)

// A daemon set as P2 stored it: the manifest as YAML text, the timeout in nanoseconds, a
// cluster name.
const p2DaemonSet = `{"id": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", "disabled": false,
 "manifest": "id: node-exporter\nlaunchables:\n  exporter:\n    launchable_type: hoist\n    location: https://artifacts.example.com/node-exporter_1.tar.gz\n    digest_location: https://artifacts.example.com/node-exporter_1.tar.gz.sha256\nstatus_port: 9100\n",
 "min_health": 80, "cluster_name": "exporters", "node_selector": "role in (web,db)",
 "pod_id": "node-exporter", "timeout": 300000000000}`

func TestP2DaemonSetDecodes(t *testing.T) {
	var d daemonset.DaemonSet
	require.NoError(t, json.Unmarshal([]byte(p2DaemonSet), &d))
	require.NoError(t, d.Validate())
	require.Equal(t, 5*time.Minute, d.Timeout.Std())
	require.Equal(t, "exporters", d.ClusterName)
	require.Equal(t, "node-exporter", d.Manifest.ID)
	require.Equal(t, 9100, d.Manifest.StatusPort)
	require.Equal(t, 80, d.MinHealth)

	out, err := json.Marshal(&d)
	require.NoError(t, err)
	require.Contains(t, string(out), `"timeout":"5m0s"`)
	require.Contains(t, string(out), `"manifest":{`)
	var again daemonset.DaemonSet
	require.NoError(t, json.Unmarshal(out, &again))
	require.Equal(t, d, again)

	for _, tc := range []struct{ doc, want string }{
		{`{"id": "a", "pod_id": "a", "manifest": "id: a\n", "timeout": "5m"}`, "cannot unmarshal string"},
		{`{"id": "a", "pod_id": "a", "manifest": "id: a\n", "cluster": "x"}`, `unknown field "cluster"`},
		{`{"id": "a", "pod_id": "a", "manifest": "id: [a\n"}`, "manifest:"},
	} {
		var bad daemonset.DaemonSet
		require.ErrorContains(t, json.Unmarshal([]byte(tc.doc), &bad), tc.want, tc.doc)
	}
	// p2kit's form still refuses a bare number of nanoseconds: 30 could mean seconds.
	var canon daemonset.DaemonSet
	require.Error(t, json.Unmarshal([]byte(`{"id": "a", "pod_id": "a", "manifest": {"id": "a"}, "timeout": 30}`), &canon))
}
