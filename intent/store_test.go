package intent_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
)

// The store is podstore's (tested there) at <root>/intent/<node>/<pod-id>.
func TestKeyLayout(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := intent.NewStore(cli, keyspace.WithPrefix("/x"))
	o, err := s.Create(ctx, "web1", storetest.Manifest("hello"))
	require.NoError(t, err)
	require.Equal(t, "/x/intent/web1/hello", o.Key)
	require.Equal(t, "web1/hello", o.Name)
	key, err := s.Key("web1", "hello")
	require.NoError(t, err)
	require.Equal(t, o.Key, key)
	raw, err := cli.Get(ctx, "/x/intent/web1/hello")
	require.NoError(t, err)
	require.Len(t, raw.Kvs, 1)
	_, err = intent.NewStore(cli).Get(ctx, "web1", "hello")
	require.Error(t, err, "the default root is /p2, not /x")
}
