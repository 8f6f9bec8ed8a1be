package labels_test

import (
	"encoding/json"
	"testing"

	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
)

func TestSelectorMatches(t *testing.T) {
	sel, err := labels.Parse("env=prod,tier in (web,api),!canary")
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set{"env": "prod", "tier": "web"}))
	require.True(t, sel.Matches(labels.Set{"env": "prod", "tier": "api", "zone": "a"}))
	require.False(t, sel.Matches(labels.Set{"env": "prod", "tier": "db"}))
	require.False(t, sel.Matches(labels.Set{"env": "staging", "tier": "web"}))
	require.False(t, sel.Matches(labels.Set{"env": "prod", "tier": "web", "canary": "true"}))
	require.False(t, sel.Matches(nil))
	require.False(t, sel.Empty())
	require.Equal(t, "!canary,env=prod,tier in (api,web)", sel.String())

	for _, everything := range []labels.Selector{labels.Everything(), {}, labels.MustParse("")} {
		require.True(t, everything.Empty())
		require.True(t, everything.Matches(nil))
		require.True(t, everything.Matches(labels.Set{"env": "prod"}))
		require.Equal(t, "", everything.String())
	}
}

func TestSelectorParseError(t *testing.T) {
	for _, s := range []string{"env in (prod", "env=prod,,", "bad key=1", "env=not a value", "tier notin"} {
		_, err := labels.Parse(s)
		require.ErrorIs(t, err, labels.ErrInvalidSelector, s)
		require.Contains(t, err.Error(), `"`+s+`"`)
	}
	require.Panics(t, func() { labels.MustParse("env in (prod") })
}

func TestSelectorJSON(t *testing.T) {
	type rc struct {
		NodeSelector labels.Selector `json:"node_selector"`
	}
	var v rc
	require.NoError(t, json.Unmarshal([]byte(`{"node_selector":"tier in (web,api), env=prod"}`), &v))
	require.True(t, v.NodeSelector.Matches(labels.Set{"env": "prod", "tier": "api"}))
	out, err := json.Marshal(v)
	require.NoError(t, err)
	require.JSONEq(t, `{"node_selector":"env=prod,tier in (api,web)"}`, string(out))

	err = json.Unmarshal([]byte(`{"node_selector":"env in ("}`), &v)
	require.ErrorIs(t, err, labels.ErrInvalidSelector)
	require.Contains(t, err.Error(), `"env in ("`)

	var missing rc
	require.NoError(t, json.Unmarshal([]byte(`{}`), &missing))
	require.True(t, missing.NodeSelector.Empty(), "an absent selector is empty: callers that require one check Empty")
}
