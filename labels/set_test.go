package labels_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/stretchr/testify/require"
)

func TestSetValidate(t *testing.T) {
	require.NoError(t, labels.Set{"env": "prod", "example.com/tier": "web", "empty": ""}.Validate())
	require.NoError(t, labels.Set(nil).Validate())

	err := labels.Set{"env": "prod", "bad key": "x"}.Validate()
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"bad key"`)

	err = labels.Set{"tier": "not a value"}.Validate()
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"tier"`)
	require.Contains(t, err.Error(), `"not a value"`)

	err = labels.ValidateKey("/nope")
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"/nope"`)
}

func TestSetWith(t *testing.T) {
	base := labels.Set{"env": "staging", "tier": "web", "old": "x"}
	got := base.With(labels.Set{"env": "prod", "zone": "a"}, []string{"old", "missing"})
	require.Equal(t, labels.Set{"env": "prod", "tier": "web", "zone": "a"}, got)
	require.Equal(t, labels.Set{"env": "staging", "tier": "web", "old": "x"}, base, "With must not change its receiver")

	require.Equal(t, labels.Set{}, labels.Set(nil).With(nil, nil))
	require.NotNil(t, labels.Set(nil).Clone())
	require.True(t, labels.Set(nil).Equal(labels.Set{}))
	require.Equal(t, "env=prod,tier=web", labels.Set{"tier": "web", "env": "prod"}.String())
	require.Equal(t, []string{"a", "b"}, labels.Set{"b": "", "a": ""}.Keys())

	sel := labels.Set{"env": "prod"}.AsSelector()
	require.True(t, sel.Matches(labels.Set{"env": "prod", "tier": "web"}))
	require.False(t, sel.Matches(labels.Set{"env": "staging"}))
}

func TestTypes(t *testing.T) {
	want := map[labels.Type]string{
		labels.Node:                  "node",
		labels.Pod:                   "pod",
		labels.ReplicationController: "replication_controller",
		labels.DaemonSet:             "daemon_set",
		labels.PodCluster:            "pod_cluster",
		labels.Roll:                  "roll",
	}
	require.Len(t, labels.Types(), len(want))
	for _, typ := range labels.Types() {
		got, err := labels.ParseType(want[typ])
		require.NoError(t, err)
		require.Equal(t, typ, got)
	}
	custom, err := labels.ParseType("canary")
	require.NoError(t, err, "any valid id is a type name")
	require.Equal(t, labels.Type("canary"), custom)
	for _, bad := range []string{"Nodes", "", "a/b", "-x", "a b"} {
		_, err := labels.ParseType(bad)
		require.ErrorIs(t, err, labels.ErrInvalidType, "%q", bad)
		require.Contains(t, err.Error(), fmt.Sprintf("%q", bad))
	}
}

func TestValidateID(t *testing.T) {
	require.NoError(t, labels.ValidateID(labels.Node, "web1"))
	require.NoError(t, labels.ValidateID(labels.Pod, "web1/hello"))

	for _, tc := range []struct {
		typ      labels.Type
		id, name string
	}{
		{labels.Node, "Web1", `"Web1"`},
		{labels.Node, "web1/hello", `"web1/hello"`},
		{labels.ReplicationController, "-rc", `"-rc"`},
		{labels.Pod, "web1", `"web1"`},
		{labels.Pod, "web1/Hello", `"Hello"`},
		{labels.Pod, "Web1/hello", `"Web1"`},
		{labels.Pod, "web1/hello/extra", `"hello/extra"`},
	} {
		err := labels.ValidateID(tc.typ, tc.id)
		require.Error(t, err, "%s %q", tc.typ, tc.id)
		require.True(t, errors.Is(err, manifest.ErrInvalidID), "%s %q: %v", tc.typ, tc.id, err)
		require.Contains(t, err.Error(), tc.name)
	}

	node, pod, err := labels.SplitPodID("web1/hello")
	require.NoError(t, err)
	require.Equal(t, "web1", node)
	require.Equal(t, "hello", pod)
	require.Equal(t, "web1/hello", labels.PodID(node, pod))
}
