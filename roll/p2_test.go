package roll_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
)

func TestP2RollDecodes(t *testing.T) {
	// A roll as P2 stored it: Go field names, no id, the delay in nanoseconds.
	const p2 = `{"OldRC": "1a2b3c4d-0000-4000-8000-000000000001", "NewRC": "1a2b3c4d-0000-4000-8000-000000000002",
		"DesiredReplicas": 5, "MinimumReplicas": 3, "LeaveOld": true, "RollDelay": 30000000000}`
	var r roll.Roll
	require.NoError(t, json.Unmarshal([]byte(p2), &r))
	require.NoError(t, r.Validate())
	require.Equal(t, "1a2b3c4d-0000-4000-8000-000000000002", r.ID, "P2's roll id is its new RC's id")
	require.Equal(t, "1a2b3c4d-0000-4000-8000-000000000001", r.OldRC)
	require.Equal(t, 5, r.DesiredReplicas)
	require.Equal(t, 3, r.MinimumReplicas)
	require.True(t, r.LeaveOld)
	require.Equal(t, 30*time.Second, r.RollDelay.Std())

	out, err := json.Marshal(&r)
	require.NoError(t, err)
	require.Contains(t, string(out), `"roll_delay":"30s"`)
	var again roll.Roll
	require.NoError(t, json.Unmarshal(out, &again))
	require.Equal(t, r, again)

	for _, tc := range []struct{ doc, want string }{
		{`{"OldRC": "a", "NewRC": "b", "MinimumReplicas": 1}`, "DesiredReplicas: required"},
		{`{"OldRC": "a", "NewRC": "b", "DesiredReplicas": 1, "MinimumReplicas": 1, "Delay": 1}`, `unknown field "Delay"`},
	} {
		var bad roll.Roll
		require.ErrorContains(t, json.Unmarshal([]byte(tc.doc), &bad), tc.want, tc.doc)
	}
}
