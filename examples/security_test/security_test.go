// Package security_test checks p2kit's hardening end to end on embedded
// etcd (and, for the preparer's grants, on real etcd 3.4, 3.5 and 3.6
// servers): TLS and authentication through the flags every binary takes, the
// users of `p2ctl auth bootstrap` confining a real preparer to its node,
// and signed manifests.
package security_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/internal/authz"
	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/status"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"
)

const waitFor = 30 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// dial parses args as a binary's etcd flags and dials.
func dial(t *testing.T, args ...string) (*clientv3.Client, error) {
	t.Helper()
	var e component.Etcd
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	e.Register(fs)
	require.NoError(t, fs.Parse(args))
	c, err := e.Dial(ctxFor(t), nil)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func tlsFlags(c *etcdtest.SecureCluster) []string {
	return []string{"--etcd", strings.Join(c.Endpoints(), ","), "--dial-timeout", "2s",
		"--etcd-cert", c.Files.ClientCert, "--etcd-key", c.Files.ClientKey, "--etcd-ca", c.Files.CA}
}

func TestDialWithTLSAndAuthFlags(t *testing.T) {
	c := etcdtest.NewSecure(t, etcdtest.WithTLS(etcdtest.GenerateTLS(t)), etcdtest.WithAuth("root-secret"))
	ctx := ctxFor(t)

	// --etcd-password, or P2_ETCD_PASSWORD when the flag is not given.
	good, err := dial(t, append(tlsFlags(c), "--etcd-user", "root", "--etcd-password", "root-secret")...)
	require.NoError(t, err)
	_, err = good.Put(ctx, "/p2/k", "v")
	require.NoError(t, err)
	t.Setenv("P2_ETCD_PASSWORD", "root-secret")
	fromEnv, err := dial(t, append(tlsFlags(c), "--etcd-user", "root")...)
	require.NoError(t, err)
	resp, err := fromEnv.Get(ctx, "/p2/k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)

	_, err = dial(t, append(tlsFlags(c), "--etcd-user", "root", "--etcd-password", "wrong")...)
	require.ErrorIs(t, err, rpctypes.ErrAuthFailed)

	// TLS without a client certificate, or without TLS at all, gets nowhere.
	noCert := []string{"--etcd", c.Endpoints()[0], "--dial-timeout", "500ms", "--etcd-ca", c.Files.CA,
		"--etcd-user", "root", "--etcd-password", "root-secret"}
	_, err = dial(t, noCert...)
	require.Error(t, err)
	plain := []string{"--etcd", strings.Replace(c.Endpoints()[0], "https://", "", 1), "--dial-timeout", "500ms",
		"--etcd-user", "root", "--etcd-password", "root-secret"}
	_, err = dial(t, plain...)
	require.Error(t, err)
	_, err = dial(t, "--etcd", c.Endpoints()[0], "--etcd-cert", c.Files.ClientCert, "--etcd-ca", c.Files.CA)
	require.ErrorContains(t, err, "--etcd-cert and --etcd-key go together")
}

func testManifest(id string, version int) *manifest.Manifest {
	return &manifest.Manifest{
		ID: id,
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       fmt.Sprintf("file:///nonexistent/%s_%d.tar.gz", id, version),
			Digest:         "sha256:" + strings.Repeat("0", 64),
		}},
	}
}

// server is an etcd server for the preparer test: a client without a
// user, one with, and the binaries' flags that reach it.
type server struct {
	client   func(t *testing.T) *clientv3.Client
	clientAs func(t *testing.T, user, password string) *clientv3.Client
	flags    []string
}

// TestPreparerRunsWithItsGrantsOnly runs a real preparer as preparer-n1,
// with signed manifests: it converges its pods, writes their status,
// records a failsafe hold and ends it when an operator releases it — all
// within the grants of `p2ctl auth bootstrap`. The same credentials cannot
// touch node n2 or intent. It runs over TLS on embedded etcd, and on real
// etcd 3.4, 3.5 and 3.6 server processes.
func TestPreparerRunsWithItsGrantsOnly(t *testing.T) {
	t.Run("embedded-tls", func(t *testing.T) {
		c := etcdtest.NewSecure(t, etcdtest.WithTLS(etcdtest.GenerateTLS(t)))
		testPreparerGrants(t, server{
			client: func(t *testing.T) *clientv3.Client { return c.Client(t) },
			clientAs: func(t *testing.T, user, password string) *clientv3.Client {
				return c.ClientAs(t, user, password)
			},
			flags: tlsFlags(c),
		})
	})
	for _, v := range etcdexec.Versions() {
		t.Run("etcd-"+v, func(t *testing.T) {
			s := etcdexec.Start(t, v)
			testPreparerGrants(t, server{
				client:   func(t *testing.T) *clientv3.Client { return s.Client(t) },
				clientAs: func(t *testing.T, user, password string) *clientv3.Client { return s.ClientAs(t, user, password) },
				flags:    []string{"--etcd", s.Endpoint(), "--dial-timeout", "2s"},
			})
		})
	}
}

func testPreparerGrants(t *testing.T, c server) {
	ctx := ctxFor(t)
	pw, err := authz.Bootstrap(ctx, c.client(t), "/p2", []string{"n1", "n2"})
	require.NoError(t, err)
	root := c.clientAs(t, "root", pw["root"])
	rootIntent := intent.NewStore(root)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	_, err = rootIntent.Set(ctx, "n1", testManifest(preparer.DefaultSelfPodID, 1))
	require.NoError(t, err)
	pods := []string{"a", "b", "c", "d"}
	for _, id := range pods {
		m := testManifest(id, 1)
		require.NoError(t, manifest.Sign(m, priv))
		_, err = rootIntent.Set(ctx, "n1", m)
		require.NoError(t, err)
	}
	_, err = rootIntent.Set(ctx, "n1", testManifest("unsigned", 1))
	require.NoError(t, err)
	_, err = rootIntent.Set(ctx, "n2", testManifest("other", 1))
	require.NoError(t, err)

	n1, err := dial(t, append(c.flags, "--etcd-user", "preparer-n1", "--etcd-password", pw["preparer-n1"])...)
	require.NoError(t, err)
	node := memory.NewNode()
	p, err := preparer.New(n1, "n1", node, node,
		preparer.WithHealthChecker(node),
		preparer.WithTrustedKeys(pub),
		preparer.WithLogger(zaptest.NewLogger(t)),
		preparer.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
		preparer.WithHealthInterval(100*time.Millisecond))
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)

	statuses := status.NewPodStatusStore(root)
	statusOf := func(pod string) (status.PodStatus, bool) {
		o, err := statuses.Get(ctx, "n1", pod)
		if err != nil {
			return status.PodStatus{}, false
		}
		return o.Value, true
	}
	for _, id := range pods {
		require.Eventually(t, func() bool {
			st, ok := statusOf(id)
			return ok && st.Status == status.Launched && st.Health == status.Passing
		}, waitFor, 20*time.Millisecond, "pod %s", id)
	}
	st, ok := statusOf("unsigned")
	require.Eventually(t, func() bool { st, ok = statusOf("unsigned"); return ok && st.Status == status.Failed }, waitFor, 20*time.Millisecond)
	require.Contains(t, st.Error, "unsigned")
	installed, err := node.Pods()
	require.NoError(t, err)
	require.Equal(t, pods, installed)
	require.Eventually(t, func() bool {
		l, err := reality.NewStore(root).List(ctx, "n1")
		return err == nil && len(l.Items) == 1+len(pods)
	}, waitFor, 20*time.Millisecond, "reality: the self pod and the signed pods")

	// Deleting four of the six intent keys at once is held; the hold is
	// recorded, released by an operator, and the preparer removes both
	// keys and the pods.
	var ops []clientv3.Op
	for _, id := range []string{"a", "b", "c", "unsigned"} {
		op, err := rootIntent.DeleteOp("n1", id)
		require.NoError(t, err)
		ops = append(ops, op)
	}
	_, err = root.Txn(ctx).Then(ops...).Commit()
	require.NoError(t, err)
	var holds []failsafe.Record
	require.Eventually(t, func() bool {
		holds, err = failsafe.ListHolds(ctx, root, "/p2")
		return err == nil && len(holds) == 1
	}, waitFor, 20*time.Millisecond)
	require.Equal(t, "preparer/n1", holds[0].Component)
	require.NoError(t, failsafe.Release(ctx, root, "/p2", holds[0].ID, "alice"))
	require.Eventually(t, func() bool {
		installed, _ := node.Pods()
		return len(installed) == 1 && installed[0] == "d"
	}, waitFor, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		resp, err := root.Get(ctx, "/p2/failsafe/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	}, waitFor, 20*time.Millisecond, "the preparer removes the hold and its release")
	for _, id := range []string{"a", "b", "c", "unsigned"} {
		require.Eventually(t, func() bool {
			st, ok := statusOf(id)
			return ok && st.Status == status.Removed
		}, waitFor, 20*time.Millisecond, "pod %s", id)
	}

	// The same credentials reach nothing of n2's and cannot write intent.
	_, err = n1.Get(ctx, "/p2/intent/n2/other")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = n1.Put(ctx, "/p2/reality/n2/other", "{}")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = n1.Put(ctx, "/p2/status/pods/n2/other/preparer", "{}")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = n1.Put(ctx, "/p2/intent/n1/x", "{}")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	stop()
}
