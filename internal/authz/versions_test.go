package authz_test

import (
	"testing"

	"github.com/p2kit/p2kit/internal/authz"
	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestBootstrapOnEachServer bootstraps a real etcd server process of each
// external version (3.4 has no AuthStatus; 3.6 refuses it to a client
// that is not root once authentication is on), then checks the
// preparer's confinement and the re-runs.
func TestBootstrapOnEachServer(t *testing.T) {
	for _, v := range etcdexec.Versions() {
		t.Run("etcd-"+v, func(t *testing.T) {
			s := etcdexec.Start(t, v)
			ctx := ctxFor(t)
			pw, err := authz.Bootstrap(ctx, s.Client(t), "/p2", []string{"n1", "n2"})
			require.NoError(t, err)
			require.Contains(t, pw, "root")

			_, err = s.Client(t).Get(ctx, "/p2/intent/n1/x")
			require.ErrorIs(t, err, rpctypes.ErrUserEmpty, "authentication is on")

			root := s.ClientAs(t, "root", pw["root"])
			require.NoError(t, put(ctx, root, "/p2/intent/n1/x"))
			require.NoError(t, put(ctx, root, "/p2/intent/n2/x"))
			n1 := s.ClientAs(t, "preparer-n1", pw["preparer-n1"])
			require.NoError(t, get(ctx, n1, "/p2/intent/n1/x"))
			require.NoError(t, list(ctx, n1, "/p2/intent/n1/"))
			require.NoError(t, put(ctx, n1, "/p2/reality/n1/x"))
			require.ErrorIs(t, get(ctx, n1, "/p2/intent/n2/x"), rpctypes.ErrPermissionDenied)
			require.ErrorIs(t, put(ctx, n1, "/p2/intent/n1/x"), rpctypes.ErrPermissionDenied)

			// Once on, a client that is not root gets a clear refusal.
			_, err = authz.Bootstrap(ctx, s.Client(t), "/p2", []string{"n1", "n3"})
			require.ErrorIs(t, err, authz.ErrAuthEnabled, "no user")
			require.ErrorContains(t, err, "must run as root")
			_, err = authz.Bootstrap(ctx, n1, "/p2", []string{"n1", "n3"})
			require.ErrorIs(t, err, authz.ErrAuthEnabled, "preparer-n1")

			// As root it adds only what is missing.
			again, err := authz.Bootstrap(ctx, root, "/p2", []string{"n1", "n3"})
			require.NoError(t, err)
			require.Len(t, again, 1)
			n3 := s.ClientAs(t, "preparer-n3", again["preparer-n3"])
			require.NoError(t, put(ctx, n3, "/p2/reality/n3/x"))
			require.ErrorIs(t, get(ctx, n3, "/p2/intent/n1/x"), rpctypes.ErrPermissionDenied)
		})
	}
}
