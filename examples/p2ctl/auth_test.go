package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// readPasswordFile reads user:password lines.
func readPasswordFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		u, p, ok := strings.Cut(sc.Text(), ":")
		require.True(t, ok, sc.Text())
		out[u] = p
	}
	return out
}

func TestAuthBootstrapOverTLS(t *testing.T) {
	files := etcdtest.GenerateTLS(t)
	c := etcdtest.NewSecure(t, etcdtest.WithTLS(files))
	dir := t.TempDir()
	tlsFlags := []string{"--etcd", c.Endpoints()[0], "--etcd-cert", files.ClientCert, "--etcd-key", files.ClientKey, "--etcd-ca", files.CA}
	p2ctl := func(args ...string) result { return runP2ctl(append(append([]string{}, tlsFlags...), args...)...) }

	// Without the client certificate, nothing gets through.
	requireFailure(t, runP2ctl("--etcd", c.Endpoints()[0], "--etcd-ca", files.CA, "--dial-timeout", "500ms",
		"auth", "bootstrap", "--nodes", "n1"), "unreachable")

	pwFile := filepath.Join(dir, "passwords")
	r := p2ctl("auth", "bootstrap", "--nodes", "n1,n2", "--out", pwFile)
	require.Equal(t, 0, r.code, r.stderr)
	st, err := os.Stat(pwFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pw := readPasswordFile(t, pwFile)
	require.Len(t, pw, 4)
	require.Len(t, pw["root"], 32)
	for _, u := range []string{"p2-controller", "preparer-n1", "preparer-n2", "root"} {
		require.Contains(t, r.stdout, u+" ")
		require.NotContains(t, r.stdout, pw[u], "passwords go to --out only")
	}

	// Once on, only root may bootstrap; a re-run adds only what is missing.
	requireFailure(t, p2ctl("auth", "bootstrap", "--nodes", "n1,n2,n3"), "must run as root")
	given := filepath.Join(dir, "given")
	require.NoError(t, os.WriteFile(given, []byte("# chosen by the operator\npreparer-n3:n3-secret\n"), 0o600))
	asRoot := []string{"--etcd-user", "root", "--etcd-password", pw["root"]}
	r = p2ctl(append(asRoot, "auth", "bootstrap", "--nodes", "n1,n2,n3", "--password-file", given)...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `preparer-n1\s+\(exists, unchanged\)`, r.stdout)
	require.Regexp(t, `preparer-n3\s+n3-secret`, r.stdout)

	// Structured output, and nothing new to say.
	r = p2ctl(append(asRoot, "-o", "json", "auth", "bootstrap", "--nodes", "n3")...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"user": "preparer-n3"`)
	require.NotContains(t, r.stdout, "n3-secret")

	// The credentials work through the same flags, confined as designed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n3 := c.ClientAs(t, "preparer-n3", "n3-secret")
	_, err = n3.Put(ctx, "/p2/reality/n3/x", "{}")
	require.NoError(t, err)
	_, err = n3.Put(ctx, "/p2/reality/n1/x", "{}")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	r = p2ctl("--etcd-user", "preparer-n1", "--etcd-password", pw["preparer-n1"], "delete", "rc", "x")
	requireFailure(t, r, "permission denied")

	// Refusals, before anything is changed.
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("preparer-n9:x\n"), 0o600))
	requireFailure(t, p2ctl(append(asRoot, "auth", "bootstrap", "--nodes", "n1", "--password-file", bad)...), "line 1: \"preparer-n9\" is none of the users")
	requireFailure(t, p2ctl(append(asRoot, "auth", "bootstrap", "--nodes", "n1", "--out", pwFile)...), "file exists")
	requireFailure(t, p2ctl(append(asRoot, "auth", "bootstrap")...), "--nodes: required")
	requireFailure(t, p2ctl(append(asRoot, "auth", "bootstrap", "--nodes", "N1")...), "N1")
}

// TestAuthBootstrapOnEtcdServers runs auth bootstrap against real etcd 3.4
// (Debian's, which has no AuthStatus) and 3.6 (which refuses AuthStatus
// to a client that is not root once authentication is on).
func TestAuthBootstrapOnEtcdServers(t *testing.T) {
	for _, v := range []string{"3.4", "3.6"} {
		t.Run("etcd-"+v, func(t *testing.T) {
			s := etcdexec.Start(t, v)
			pwFile := filepath.Join(t.TempDir(), "passwords")
			r := runP2ctl("--etcd", s.Endpoint(), "auth", "bootstrap", "--nodes", "n1,n2", "--out", pwFile)
			require.Equal(t, 0, r.code, r.stderr)
			pw := readPasswordFile(t, pwFile)
			require.Len(t, pw, 4)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			root := s.ClientAs(t, "root", pw["root"])
			for _, k := range []string{"/p2/intent/n1/x", "/p2/intent/n2/x"} {
				_, err := root.Put(ctx, k, "{}")
				require.NoError(t, err)
			}
			n1 := s.ClientAs(t, "preparer-n1", pw["preparer-n1"])
			resp, err := n1.Get(ctx, "/p2/intent/n1/", clientv3.WithPrefix())
			require.NoError(t, err)
			require.Len(t, resp.Kvs, 1)
			_, err = n1.Get(ctx, "/p2/intent/n2/x")
			require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)

			// Once on, only root may bootstrap, and p2ctl says so.
			msg := requireFailure(t, runP2ctl("--etcd", s.Endpoint(), "auth", "bootstrap", "--nodes", "n1,n3"), "must run as root")
			require.Contains(t, msg, "user name is empty")
			require.NotContains(t, msg, "unreachable", "etcd answered: it refused")
			requireFailure(t, runP2ctl("--etcd", s.Endpoint(), "--etcd-user", "preparer-n1", "--etcd-password", pw["preparer-n1"],
				"auth", "bootstrap", "--nodes", "n1,n3"), "must run as root")
			r = runP2ctl("--etcd", s.Endpoint(), "--etcd-user", "root", "--etcd-password", pw["root"], "auth", "bootstrap", "--nodes", "n1,n3")
			require.Equal(t, 0, r.code, r.stderr)
			require.Regexp(t, `preparer-n1\s+\(exists, unchanged\)`, r.stdout)
			require.Regexp(t, `preparer-n3\s+\S{32}`, r.stdout)
		})
	}
}
