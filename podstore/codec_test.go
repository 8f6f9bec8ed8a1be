package podstore_test

import (
	"context"
	"encoding/json"
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
