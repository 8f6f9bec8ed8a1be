package podstore_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/podstore"
	"github.com/stretchr/testify/require"
)

// P2 kept intent as YAML text; such a value reads as the manifest, and is written back as JSON.
func TestYAMLIntentValuesAreRead(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, "/p2/intent/web1/hello", `id: hello
launchables:
  app:
    launchable_type: hoist
    location: https://artifacts.example.com/hello_1.tar.gz
    digest_location: https://artifacts.example.com/hello_1.tar.gz.sha256
    env:
      WORKERS: 4
status_port: 8080
`)
	require.NoError(t, err)
	_, err = cli.Put(ctx, "/p2/intent/web1/typo", "id: typo\nlaunchables: {app: {launchable_typo: hoist}}\n")
	require.NoError(t, err)

	s := podstore.New(cli, "intent")
	o, err := s.Get(ctx, "web1", "hello")
	require.NoError(t, err)
	require.Equal(t, 8080, o.Value.StatusPort)
	require.Equal(t, "4", o.Value.Launchables["app"].Env["WORKERS"])
	_, err = s.Get(ctx, "web1", "typo")
	require.ErrorContains(t, err, "launchables.app.launchable_typo: unknown field")

	m := o.Value.Clone()
	m.StatusPort = 8081
	_, err = s.Update(ctx, o, m)
	require.NoError(t, err)
	r, err := cli.Get(ctx, "/p2/intent/web1/hello")
	require.NoError(t, err)
	require.True(t, json.Valid(r.Kvs[0].Value), "written back as JSON: %s", r.Kvs[0].Value)

	l, err := s.List(ctx, "web1")
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Len(t, l.Invalid, 1)
}

// The same manifest on many nodes is decoded once: every node's copy shares
// its maps (one daemon set's manifest on 10,000 nodes was 10,000 decoded
// copies, about 1.2 KB each, in each process that watched them). A changed
// manifest is decoded anew, a value that does not decode is still an error
// for its key alone, and a Clone shares nothing.
func TestSameManifestIsDecodedOnce(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	same := `{"id":"shared","launchables":{"app":{"launchable_type":"hoist","location":"file:///srv/shared_1.tar.gz","env":{"A":"1"}}},"config":{"version":1}}`
	other := `{"id":"shared","launchables":{"app":{"launchable_type":"hoist","location":"file:///srv/shared_2.tar.gz"}},"config":{"version":2}}`
	for _, kv := range [][2]string{
		{"/p2/intent/n1/shared", same}, {"/p2/intent/n2/shared", same}, {"/p2/intent/n3/shared", other},
		{"/p2/intent/n4/shared", `{"id":"shared","launchables":{}}`},
	} {
		_, err := cli.Put(ctx, kv[0], kv[1])
		require.NoError(t, err)
	}
	s := podstore.New(cli, "intent")
	a, err := s.Get(ctx, "n1", "shared")
	require.NoError(t, err)
	b, err := s.Get(ctx, "n2", "shared")
	require.NoError(t, err)
	c, err := s.Get(ctx, "n3", "shared")
	require.NoError(t, err)
	mapOf := func(o *podstore.Object) uintptr { return reflect.ValueOf(o.Value.Launchables).Pointer() }
	require.Equal(t, mapOf(a), mapOf(b), "the same bytes share one decoded manifest")
	require.NotEqual(t, mapOf(a), mapOf(c))
	require.Equal(t, "file:///srv/shared_2.tar.gz", c.Value.Launchables["app"].Location)
	require.Equal(t, "n2/shared", b.Name, "each read is its own object")

	_, err = s.Get(ctx, "n4", "shared")
	require.ErrorContains(t, err, "/p2/intent/n4/shared")
	_, err = s.Get(ctx, "n4", "shared")
	require.ErrorContains(t, err, "/p2/intent/n4/shared", "an error is not remembered as a value")

	m := a.Value.Clone()
	m.Launchables["app"].Env["A"] = "2"
	require.Equal(t, "1", b.Value.Launchables["app"].Env["A"], "a Clone shares nothing")
}
