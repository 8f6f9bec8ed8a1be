package fleet_test

import (
	"testing"

	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/stretchr/testify/require"
)

// An intent object's digest is computed once per revision of its key:
// controllers ask for every kept node's on each pass (the RC farm
// computing it afresh was 13% of a 10,000-node simulation's allocations).
// A new revision is digested anew.
func TestIntentDigestOncePerRevision(t *testing.T) {
	v := fleet.New(nil, "/p2", nil, nil)
	app := func(loc string) manifest.Manifest {
		return manifest.Manifest{ID: "app", Launchables: map[string]manifest.Launchable{
			"app": {LaunchableType: manifest.LaunchableTypeHoist, Location: loc}}}
	}
	v1, v2 := app("file:///srv/app_1.tar.gz"), app("file:///srv/app_2.tar.gz")
	d1, err := v1.Digest()
	require.NoError(t, err)
	d2, err := v2.Digest()
	require.NoError(t, err)

	o := &kv.Object[manifest.Manifest]{Name: "n1/app", ModRevision: 5, Value: v1}
	require.Equal(t, d1, v.IntentDigest(o))
	// The same revision is not digested again: a value changed under it
	// (which etcd never does) still reads as the first digest.
	o.Value = v2
	require.Equal(t, d1, v.IntentDigest(o), "digested again at the same revision")
	o.ModRevision = 6
	require.Equal(t, d2, v.IntentDigest(o))
	require.Equal(t, d2, v.IntentDigest(&kv.Object[manifest.Manifest]{Name: "n2/app", ModRevision: 6, Value: v2}))
}
