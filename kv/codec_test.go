package kv_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

// countingCodec counts the decodes that reach it and refuses "bad".
type countingCodec struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingCodec) Marshal(v *map[string]string) ([]byte, error) {
	return kv.JSON[map[string]string]{}.Marshal(v)
}

func (c *countingCodec) Unmarshal(data []byte, v *map[string]string) error {
	c.mu.Lock()
	c.calls[string(data)]++
	c.mu.Unlock()
	switch string(data) {
	case "bad":
		return errors.New("bad value")
	case "":
		*v = map[string]string{}
		return nil
	}
	return kv.JSON[map[string]string]{}.Unmarshal(data, v)
}

func (c *countingCodec) count(data string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[data]
}

func mapPointer(m map[string]string) uintptr { return reflect.ValueOf(m).Pointer() }

// Equal bytes decode once and share the decoded map; other bytes get their
// own; a refused value is refused every time and never kept; the oldest
// value goes when the table is full.
func TestSharedCodec(t *testing.T) {
	inner := &countingCodec{calls: map[string]int{}}
	c := kv.Shared[map[string]string](inner, 2)
	a, b := `{"pool":"web"}`, `{"pool":"db"}`

	var x, y, z map[string]string
	require.NoError(t, c.Unmarshal([]byte(a), &x))
	require.NoError(t, c.Unmarshal([]byte(a), &y))
	require.NoError(t, c.Unmarshal([]byte(b), &z))
	require.Equal(t, map[string]string{"pool": "web"}, y)
	require.Equal(t, mapPointer(x), mapPointer(y), "equal bytes share one map")
	require.NotEqual(t, mapPointer(x), mapPointer(z))
	require.Equal(t, 1, inner.count(a), "equal bytes are decoded once")

	for range 2 {
		var v map[string]string
		require.ErrorContains(t, c.Unmarshal([]byte("bad"), &v), "bad value")
	}
	require.Equal(t, 2, inner.count("bad"), "a refused value is not kept")

	// The table holds two: a third value pushes out a, the oldest.
	require.NoError(t, c.Unmarshal([]byte(`{"pool":"cache"}`), &z))
	require.NoError(t, c.Unmarshal([]byte(a), &z))
	require.Equal(t, 2, inner.count(a))
	require.NotEqual(t, mapPointer(x), mapPointer(z), "decoded anew once pushed out")

	// Empty bytes that c accepts are a value like any other, pushed out
	// in their turn.
	one := kv.Shared[map[string]string](inner, 1)
	require.NoError(t, one.Unmarshal(nil, &z))
	require.NoError(t, one.Unmarshal([]byte(a), &z))
	require.NoError(t, one.Unmarshal(nil, &z))
	require.Equal(t, 2, inner.count(""), "the empty value was pushed out by a")

	out, err := c.Marshal(&x)
	require.NoError(t, err)
	require.JSONEq(t, a, string(out))
}

// Readers decoding at once get equal values, under -race.
func TestSharedCodecConcurrent(t *testing.T) {
	c := kv.Shared[map[string]string](&countingCodec{calls: map[string]int{}}, 4)
	values := []string{`{"a":"1"}`, `{"a":"2"}`, `{"a":"3"}`, `{"a":"4"}`, `{"a":"5"}`}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				data := values[(g+i)%len(values)]
				var v map[string]string
				if err := c.Unmarshal([]byte(data), &v); err != nil {
					t.Error(err)
					return
				}
				if want := data[len(`{"a":"`) : len(data)-2]; v["a"] != want {
					t.Errorf("decoded %v from %s", v, data)
					return
				}
			}
		})
	}
	wg.Wait()
}
