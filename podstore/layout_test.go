package podstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/podstore"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
)

// intent and reality are this store at <root>/intent/ and <root>/reality/.
func TestIntentAndRealityLayout(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for dir, open := range map[string]func(...keyspace.Option) *podstore.Store{
		"intent":  func(o ...keyspace.Option) *podstore.Store { return intent.NewStore(cli, o...).Store },
		"reality": func(o ...keyspace.Option) *podstore.Store { return reality.NewStore(cli, o...).Store },
	} {
		s := open(keyspace.WithPrefix("/x"))
		o, err := s.Create(ctx, "web1", storetest.Manifest("hello"))
		require.NoError(t, err)
		require.Equal(t, "/x/"+dir+"/web1/hello", o.Key)
		require.Equal(t, "web1/hello", o.Name)
		_, err = open().Get(ctx, "web1", "hello")
		require.ErrorIs(t, err, kv.ErrNotFound, "the default root is /p2, not /x")
	}
}
