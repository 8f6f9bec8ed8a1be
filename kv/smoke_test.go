package kv_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/internal/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

type item struct {
	N int    `json:"n"`
	S string `json:"s,omitempty"`
}

func TestSmoke(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := kv.New[item](cli, "/t/items")
	_, err := s.Create(ctx, "a", &item{N: 1})
	require.NoError(t, err)
	w := s.Watch(ctx)
	b, err := w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, kv.Initial, b.Kind)
	require.Len(t, b.Events, 1)
	_, err = s.Put(ctx, "b", &item{N: 2})
	require.NoError(t, err)
	b, err = w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, kv.Live, b.Kind)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Equal(t, 2, b.After.Len())
	require.Equal(t, 1, b.Before.Len())
}
