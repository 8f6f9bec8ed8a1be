package etcdtest_test

import (
	"context"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/stretchr/testify/require"
)

func TestWatchDeletes(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx := context.Background()
	for _, k := range []string{"/d/a", "/d/b", "/other/c"} {
		_, err := cli.Put(ctx, k, "v")
		require.NoError(t, err)
	}
	resp, err := cli.Get(ctx, "/d/a")
	require.NoError(t, err)
	d := etcdtest.WatchDeletes(t, cli, "/d/", resp.Header.Revision)
	require.Empty(t, d.Since(), "nothing deleted yet")

	_, err = cli.Delete(ctx, "/d/a")
	require.NoError(t, err)
	_, err = cli.Delete(ctx, "/other/c")
	require.NoError(t, err)
	// The last write is outside the prefix: Since reads up to it through
	// a progress notification.
	require.Equal(t, []string{"/d/a"}, d.Since())
}
