package failsafe_test

import (
	"runtime"
	"testing"
	"weak"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

// seedView is a seed the test can watch being freed.
type seedView struct{ kv.MapView[item] }

// StartFrom keeps its seed (a preparer's whole reality, decoded) only
// until the first batch is delivered: the consumer that kept the batch
// no longer keeps the seed alive through the source.
func TestStartFromLetsGoOfItsSeed(t *testing.T) {
	f := newFeed(3)
	f.change([]string{name(0)}, nil, 0)
	src, seed := seeded(f.source())
	b := next(t, src)
	require.NotNil(t, b)
	require.Equal(t, kv.Initial, b.Kind)
	require.Len(t, b.Events, 1, "the seed lacks %s only", name(2))
	b = nil
	runtime.GC()
	require.Nil(t, seed.Value(), "the source still holds its seed after the first batch")
	b = next(t, src)
	require.NotNil(t, b)
	require.Equal(t, kv.Live, b.Kind)
	runtime.KeepAlive(b)
}

// seeded returns src started from a seed of names 0 and 1 as the feed
// has them, and a weak pointer to the seed.
func seeded(src kv.Source[item]) (kv.Source[item], weak.Pointer[seedView]) {
	sv := &seedView{kv.MapView[item]{}}
	for i := range 2 {
		sv.MapView[name(i)] = &kv.Object[item]{Name: name(i), Key: "/x/" + name(i), Value: item{N: i}, ModRevision: int64(i + 1)}
	}
	return failsafe.StartFrom[item](src, sv), weak.Make(sv)
}
