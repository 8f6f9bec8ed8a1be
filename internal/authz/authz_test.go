package authz_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/authz"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestBootstrapConfinesPreparers(t *testing.T) {
	c := etcdtest.NewSecure(t)
	ctx := ctxFor(t)
	pw, err := authz.Bootstrap(ctx, c.Client(t), "/p2/", []string{"n1", "n2", "n10"},
		authz.WithPasswords(map[string]string{"preparer-n2": "given"}))
	require.NoError(t, err)
	require.Equal(t, []string{"p2-controller", "preparer-n1", "preparer-n10", "preparer-n2", "root"}, slices.Sorted(maps.Keys(pw)))
	require.Equal(t, "given", pw["preparer-n2"])
	require.Len(t, pw["preparer-n1"], 32)
	require.NotEqual(t, pw["preparer-n1"], pw["preparer-n10"])

	_, err = c.Client(t).Get(ctx, "/p2/intent/n1/x")
	require.ErrorIs(t, err, rpctypes.ErrUserEmpty, "authentication is on")

	root := c.ClientAs(t, "root", pw["root"])
	for _, k := range []string{"/p2/intent/n1/x", "/p2/intent/n2/x", "/p2/intent/n10/x", "/p2/reality/n2/x", "/p2/daemon_sets/d"} {
		_, err := root.Put(ctx, k, "{}")
		require.NoError(t, err)
	}

	n1 := c.ClientAs(t, "preparer-n1", pw["preparer-n1"])
	allowed := map[string]func() error{
		"get own intent":         func() error { return get(ctx, n1, "/p2/intent/n1/x") },
		"list own intent":        func() error { return list(ctx, n1, "/p2/intent/n1/") },
		"put own reality":        func() error { return put(ctx, n1, "/p2/reality/n1/x") },
		"list own reality":       func() error { return list(ctx, n1, "/p2/reality/n1/") },
		"delete own reality":     func() error { return del(ctx, n1, "/p2/reality/n1/x") },
		"put own status":         func() error { return put(ctx, n1, "/p2/status/pods/n1/x/preparer") },
		"get own status":         func() error { return get(ctx, n1, "/p2/status/pods/n1/x/preparer") },
		"put own node record":    func() error { return put(ctx, n1, "/p2/status/nodes/n1/preparer") },
		"record a failsafe hold": func() error { return put(ctx, n1, "/p2/failsafe/holds/preparer.n1-h") },
		"list own holds":         func() error { return list(ctx, n1, "/p2/failsafe/holds/preparer.n1-") },
		"watch own releases":     func() error { return list(ctx, n1, "/p2/failsafe/releases/preparer.n1-") },
		"remove a released hold": func() error { return del(ctx, n1, "/p2/failsafe/releases/preparer.n1-h") },
	}
	for name, op := range allowed {
		require.NoError(t, op(), name)
	}
	denied := map[string]func() error{
		"get another node's intent":    func() error { return get(ctx, n1, "/p2/intent/n2/x") },
		"get n10's intent (prefix)":    func() error { return get(ctx, n1, "/p2/intent/n10/x") },
		"list all intent":              func() error { return list(ctx, n1, "/p2/intent/") },
		"put own intent":               func() error { return put(ctx, n1, "/p2/intent/n1/x") },
		"delete own intent":            func() error { return del(ctx, n1, "/p2/intent/n1/x") },
		"put another node's reality":   func() error { return put(ctx, n1, "/p2/reality/n2/x") },
		"get another node's reality":   func() error { return get(ctx, n1, "/p2/reality/n2/x") },
		"put another node's status":    func() error { return put(ctx, n1, "/p2/status/pods/n2/x/preparer") },
		"put a daemon set":             func() error { return put(ctx, n1, "/p2/daemon_sets/d") },
		"put another node's record":    func() error { return put(ctx, n1, "/p2/status/nodes/n2/preparer") },
		"record another's hold":        func() error { return put(ctx, n1, "/p2/failsafe/holds/rc-farm-h") },
		"release n10's hold":           func() error { return put(ctx, n1, "/p2/failsafe/releases/preparer.n10-h") },
		"get a daemon set":             func() error { return get(ctx, n1, "/p2/daemon_sets/d") },
		"put node labels":              func() error { return put(ctx, n1, "/p2/labels/node/n1") },
		"put outside the prefix":       func() error { return put(ctx, n1, "/elsewhere") },
		"put a sibling prefix's key":   func() error { return put(ctx, n1, "/p2x/intent/n1/x") },
		"add a user":                   func() error { _, err := n1.UserAdd(ctx, "evil", "x"); return err },
		"grant itself more":            func() error { _, err := n1.UserGrantRole(ctx, "preparer-n1", "p2-controller"); return err },
		"transaction on another's key": func() error { return txn(ctx, n1, "/p2/reality/n2/x") },
	}
	for name, op := range denied {
		require.ErrorIs(t, op(), rpctypes.ErrPermissionDenied, name)
	}

	ctl := c.ClientAs(t, "p2-controller", pw["p2-controller"])
	require.NoError(t, put(ctx, ctl, "/p2/intent/n2/x"))
	require.NoError(t, list(ctx, ctl, "/p2/"))
	require.NoError(t, put(ctx, ctl, "/p2/locks/rc-farm/1"))
	require.ErrorIs(t, put(ctx, ctl, "/elsewhere"), rpctypes.ErrPermissionDenied)
}

func TestBootstrapIsIdempotent(t *testing.T) {
	c := etcdtest.NewSecure(t)
	ctx := ctxFor(t)
	pw, err := authz.Bootstrap(ctx, c.Client(t), "/p2", []string{"n1"})
	require.NoError(t, err)

	// Once authentication is on, only root may bootstrap.
	_, err = authz.Bootstrap(ctx, c.Client(t), "/p2", []string{"n1", "n2"})
	require.ErrorContains(t, err, "must run as root")
	_, err = authz.Bootstrap(ctx, c.ClientAs(t, "preparer-n1", pw["preparer-n1"]), "/p2", []string{"n1", "n2"})
	require.ErrorContains(t, err, "must run as root")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)

	// An operator widened n1's role by hand; bootstrap narrows it again.
	root := c.ClientAs(t, "root", pw["root"])
	_, err = root.RoleGrantPermission(ctx, "preparer-n1", "/p2/intent/", clientv3.GetPrefixRangeEnd("/p2/intent/"), clientv3.PermissionType(clientv3.PermReadWrite))
	require.NoError(t, err)

	again, err := authz.Bootstrap(ctx, root, "/p2", []string{"n1", "n2"})
	require.NoError(t, err)
	require.Equal(t, []string{"preparer-n2"}, slices.Sorted(maps.Keys(again)), "only the new node's user is created")

	n1 := c.ClientAs(t, "preparer-n1", pw["preparer-n1"]) // password unchanged
	require.NoError(t, get(ctx, n1, "/p2/intent/n1/x"))
	require.ErrorIs(t, put(ctx, n1, "/p2/intent/n1/x"), rpctypes.ErrPermissionDenied, "the hand-made grant is revoked")
	n2 := c.ClientAs(t, "preparer-n2", again["preparer-n2"])
	require.NoError(t, put(ctx, n2, "/p2/reality/n2/x"))
	require.ErrorIs(t, put(ctx, n2, "/p2/reality/n1/x"), rpctypes.ErrPermissionDenied)

	role, err := root.RoleGet(ctx, "preparer-n1")
	require.NoError(t, err)
	require.Len(t, role.Perm, len(authz.PreparerGrants("/p2", "n1")))
}

func TestBootstrapRefuses(t *testing.T) {
	c := etcdtest.NewSecure(t)
	ctx := ctxFor(t)
	cli := c.Client(t)
	_, err := authz.Bootstrap(ctx, cli, "/p2", nil)
	require.ErrorContains(t, err, "no nodes")
	_, err = authz.Bootstrap(ctx, cli, "p2", []string{"n1"})
	require.ErrorContains(t, err, "absolute")
	_, err = authz.Bootstrap(ctx, cli, "/p2", []string{"n1", "Bad/Node"})
	require.ErrorContains(t, err, "Bad/Node")
	st, err := cli.AuthStatus(ctx)
	require.NoError(t, err)
	require.False(t, st.Enabled, "nothing was done")
	users, err := cli.UserList(ctx)
	require.NoError(t, err)
	require.Empty(t, users.Users)
}

func get(ctx context.Context, c *clientv3.Client, key string) error {
	_, err := c.Get(ctx, key)
	return err
}

func list(ctx context.Context, c *clientv3.Client, prefix string) error {
	_, err := c.Get(ctx, prefix, clientv3.WithPrefix())
	return err
}

func put(ctx context.Context, c *clientv3.Client, key string) error {
	_, err := c.Put(ctx, key, "{}")
	return err
}

func del(ctx context.Context, c *clientv3.Client, key string) error {
	_, err := c.Delete(ctx, key)
	return err
}

func txn(ctx context.Context, c *clientv3.Client, key string) error {
	_, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).Then(clientv3.OpPut(key, "{}")).Commit()
	return err
}
