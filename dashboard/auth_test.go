package dashboard_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/dashboard"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// addUser makes an etcd user with a role of its own that may read every
// key under root and write under each of writes.
func addUser(t *testing.T, cli *clientv3.Client, name string, writes ...string) {
	ctx := context.Background()
	_, err := cli.RoleAdd(ctx, name)
	require.NoError(t, err)
	_, err = cli.RoleGrantPermission(ctx, name, root+"/", clientv3.GetPrefixRangeEnd(root+"/"), clientv3.PermissionType(clientv3.PermRead))
	require.NoError(t, err)
	for _, w := range writes {
		_, err = cli.RoleGrantPermission(ctx, name, w, clientv3.GetPrefixRangeEnd(w), clientv3.PermissionType(clientv3.PermReadWrite))
		require.NoError(t, err)
	}
	_, err = cli.UserAdd(ctx, name, name+"-pw")
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, name, name)
	require.NoError(t, err)
}

// TestReleaseAsEtcdUser: the release is written as the etcd user the
// dashboard authenticates as, audited with that user's name; a user whose
// role may not write releases gets etcd's refusal and nothing is written.
func TestReleaseAsEtcdUser(t *testing.T) {
	c := etcdtest.New(t)
	admin := c.Client(t)
	fleet{nodes: 1, pods: 3}.write(t, admin)
	addUser(t, admin, "viewer")
	addUser(t, admin, "frank", root+"/failsafe/releases/", root+"/audit/")
	etcdtest.EnableAuth(t, admin, "rootpw")
	rootCli := c.ClientAs(t, "root", "rootpw")
	hold := startConsumer(t, rootCli, nodeName(0)).trip(t, rootCli)

	for _, user := range []string{"viewer", "frank"} {
		srv := serve(t, c.ClientAs(t, user, user+"-pw"), dashboard.AllowWrites(""))
		confirm := mustGet(t, srv, "/holds/"+hold.ID+"/release")
		assert.Contains(t, confirm, "Release as "+user)
		m := tokenRE.FindStringSubmatch(confirm)
		require.Len(t, m, 2)
		code, body := postRelease(t, srv, hold.ID, m[1], nil)
		if user == "viewer" {
			assert.Equal(t, http.StatusForbidden, code)
			assert.Contains(t, body, "permission denied")
			assert.False(t, releaseWritten(t, rootCli, hold.ID), "the viewer's release")
			continue
		}
		assert.Equal(t, http.StatusSeeOther, code, body)
	}
	holdGone(t, rootCli)
	recs, err := audit.NewLog(rootCli).Recent(context.Background(), 0, func(r *audit.Record) bool { return r.Entity == failsafe.HoldKind })
	require.NoError(t, err)
	require.Len(t, recs.Items, 1)
	assert.Equal(t, "frank", recs.Items[0].Value.Actor)
}
