package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

// With etcd's NOSPACE alarm raised, a write says "etcd is out of space"
// on its one line, and reads still work.
func TestNoSpaceSaidPlainly(t *testing.T) {
	c := etcdtest.NewClusterWith(t, 1, etcdtest.WithQuotaBackendBytes(4<<20))
	f := &fleet{t: t, c: c, cli: c.Client(t), dir: t.TempDir()}
	f.ok("apply", "rc", "-f", f.write("rc.yaml", rcYAML("hello-v1", 1, 2)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := strings.Repeat("x", 256<<10)
	for i := 0; ; i++ {
		_, err := f.cli.Put(ctx, fmt.Sprintf("/fill/%d", i), big)
		if err != nil {
			require.True(t, errors.Is(kv.EtcdError(err), kv.ErrNoSpace), "%v", err)
			break
		}
		require.Less(t, i, 1000, "the quota is never reached")
	}
	line := f.fails("etcd is out of space", "labels", "set", "rc", "hello-v1", "team=core")
	require.Contains(t, line, "alarm disarm")
	require.Contains(t, f.ok("get", "rc", "hello-v1"), "hello-v1")
}
