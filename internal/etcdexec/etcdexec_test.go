package etcdexec_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/stretchr/testify/require"
)

// TestEachVersion starts a server of every external version, checks that
// it is that version, that it stores and reads a key, and that Stop stops
// it.
func TestEachVersion(t *testing.T) {
	for _, v := range etcdexec.Versions() {
		t.Run("etcd-"+v, func(t *testing.T) {
			s := etcdexec.Start(t, v)
			require.Equal(t, v, s.Version())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cli := s.Client(t)
			st, err := cli.Status(ctx, s.Endpoint())
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(st.Version, v+"."), "server reports %s, want %s.x", st.Version, v)

			_, err = cli.Put(ctx, "/p2/k", "v")
			require.NoError(t, err)
			resp, err := cli.Get(ctx, "/p2/k")
			require.NoError(t, err)
			require.Len(t, resp.Kvs, 1)
			require.Equal(t, "v", string(resp.Kvs[0].Value))

			s.Stop()
			short, cancelShort := context.WithTimeout(ctx, time.Second)
			defer cancelShort()
			_, err = cli.Status(short, s.Endpoint())
			require.Error(t, err, "the server answers after Stop")
			s.Stop() // a second Stop (and the cleanup's) does nothing
		})
	}
}

// TestServersAreIndependent: two servers of one version do not share
// ports or data.
func TestServersAreIndependent(t *testing.T) {
	v := etcdexec.Versions()[len(etcdexec.Versions())-1]
	a, b := etcdexec.Start(t, v), etcdexec.Start(t, v)
	require.NotEqual(t, a.Endpoint(), b.Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := a.Client(t).Put(ctx, "/only/a", "x")
	require.NoError(t, err)
	resp, err := b.Client(t).Get(ctx, "/only/a")
	require.NoError(t, err)
	require.Empty(t, resp.Kvs)
}
