package p2import_test

import (
	"context"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/p2import"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keysUnder returns every key under prefix.
func keysUnder(t *testing.T, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func TestConvertFleet(t *testing.T) {
	p := p2import.Convert(fleetEntries(t))
	require.Len(t, p.Problems, 1)
	require.Equal(t, p2import.Skipped, p.Problems[0].Class)
	require.Empty(t, p.Blocking())
	for kind, want := range map[p2import.Kind]int{
		p2import.Intent: 8, p2import.Reality: 8, p2import.Labels: 12,
		p2import.ReplicationController: 2, p2import.DaemonSet: 1, p2import.PodCluster: 1, p2import.Roll: 1,
	} {
		require.Equal(t, want, p.Count(kind, ""), "%s", kind)
	}
	// Labels come first and rolls last: a controller finds its pods, a roll its RCs.
	require.Equal(t, p2import.Labels, p.Records[0].Kind)
	require.Equal(t, p2import.Roll, p.Records[len(p.Records)-1].Kind)
	for _, r := range p.Records {
		if r.Kind == p2import.Roll {
			ro := r.Value.(*roll.Roll)
			require.Equal(t, newRC, ro.ID)
			require.Equal(t, oldRC, ro.OldRC)
			require.Equal(t, "1s", ro.RollDelay.String())
		}
		if r.Kind == p2import.ReplicationController && r.ID == oldRC {
			require.Equal(t, rc.Dynamic, r.Value.(*rc.RC).AllocationStrategy)
			require.Equal(t, "4", r.Value.(*rc.RC).Manifest.Launchables["app"].Env["WORKERS"])
		}
	}
}

func TestPlanApplyAudited(t *testing.T) {
	ctx := context.Background()
	cli := etcdtest.New(t).Client(t)
	im := p2import.New(cli, "alice", p2import.WithChunkSize(10))
	p, err := im.Plan(ctx, fleetEntries(t))
	require.NoError(t, err)
	require.Empty(t, p.Blocking())
	require.Len(t, p.Records, 33)
	for _, r := range p.Records {
		require.Equal(t, p2import.Create, r.Action, r.Source)
		require.True(t, strings.HasPrefix(r.Key, "/p2/"+string(r.Kind)+"/"), r.Key)
	}
	require.Empty(t, keysUnder(t, cli, "/p2/"), "Plan writes nothing")

	res, err := im.Apply(ctx, p, false)
	require.NoError(t, err)
	require.Len(t, res.Written, 33)

	// Canonical p2kit form through the stores.
	got, err := rc.NewStore(cli).Get(ctx, oldRC)
	require.NoError(t, err)
	require.Equal(t, 2, got.Value.ReplicasDesired)
	raw, err := cli.Get(ctx, "/p2/replication_controllers/"+oldRC)
	require.NoError(t, err)
	require.Contains(t, string(raw.Kvs[0].Value), `"manifest":{`)
	require.Contains(t, string(raw.Kvs[0].Value), `"allocation_strategy":"dynamic"`)
	raw, err = cli.Get(ctx, "/p2/intent/node1/web")
	require.NoError(t, err)
	m, err := manifest.Decode(raw.Kvs[0].Value)
	require.NoError(t, err)
	require.Equal(t, "web", m.ID)
	require.True(t, strings.HasPrefix(string(raw.Kvs[0].Value), "{"), "intent is stored as JSON")
	_, err = intent.NewStore(cli).Get(ctx, "node3", "logd")
	require.NoError(t, err)
	set, err := labels.New(cli).Get(ctx, labels.PodCluster, pcID)
	require.NoError(t, err)
	require.Equal(t, "web-prod", set.Value["cluster_name"])
	ro, err := roll.NewStore(cli).Get(ctx, newRC)
	require.NoError(t, err)
	require.Equal(t, oldRC, ro.Value.OldRC)

	// Every record is audited under the operator's name.
	recs, err := audit.NewLog(cli).List(ctx, timeZero, 0)
	require.NoError(t, err)
	require.Len(t, recs.Items, 33)
	for _, r := range recs.Items {
		require.Equal(t, "alice", r.Value.Actor)
		require.Equal(t, audit.Created, r.Value.EventType)
	}

	// The bulk kinds went in chunks of 10 records: 28 records, 3 transactions.
	revs := map[int64]bool{}
	for _, dir := range []string{"labels", "intent", "reality"} {
		resp, err := cli.Get(ctx, "/p2/"+dir+"/", clientv3.WithPrefix())
		require.NoError(t, err)
		for _, kv := range resp.Kvs {
			revs[kv.ModRevision] = true
		}
	}
	require.Len(t, revs, 3)

	// A second import finds everything in place and writes nothing.
	before, err := cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	p, err = im.Plan(ctx, fleetEntries(t))
	require.NoError(t, err)
	require.Empty(t, p.Blocking())
	require.Equal(t, 33, p.Count(p2import.Intent, p2import.Unchanged)+p.Count(p2import.Reality, p2import.Unchanged)+
		p.Count(p2import.Labels, p2import.Unchanged)+p.Count(p2import.ReplicationController, p2import.Unchanged)+
		p.Count(p2import.DaemonSet, p2import.Unchanged)+p.Count(p2import.PodCluster, p2import.Unchanged)+
		p.Count(p2import.Roll, p2import.Unchanged))
	res, err = im.Apply(ctx, p, false)
	require.NoError(t, err)
	require.Empty(t, res.Written)
	after, err := cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Equal(t, before.Header.Revision, after.Header.Revision)
}

// brokenFleet is the fleet with entries that cannot be imported.
func brokenFleet(t *testing.T) []p2import.Entry {
	entries := fleetEntries(t)
	return append(entries,
		// Corrupt: not JSON.
		p2import.NewEntry("replication_controllers/0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e", []byte(`{"id": "0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e", "manifest": `)),
		// Ambiguous: the manifest is not the pod of its key.
		p2import.NewEntry("intent/node3/api", []byte("id: web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: file:///srv/a.tar.gz\n")),
		// No p2kit form.
		p2import.NewEntry("hooks/before_install", []byte("id: hook\n")),
		// A roll whose RCs are nowhere.
		p2import.NewEntry("rolls/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", []byte(`{"OldRC":"x1","NewRC":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","DesiredReplicas":1,"MinimumReplicas":0,"LeaveOld":false,"RollDelay":0}`)),
	)
}

func TestBlockedImportWritesNothing(t *testing.T) {
	ctx := context.Background()
	cli := etcdtest.New(t).Client(t)
	im := p2import.New(cli, "alice")
	p, err := im.Plan(ctx, brokenFleet(t))
	require.NoError(t, err)
	reasons := map[string]p2import.Problem{}
	for _, pr := range p.Blocking() {
		reasons[pr.Source] = pr
	}
	require.Len(t, reasons, 4)
	require.Equal(t, p2import.Unconvertible, reasons["replication_controllers/0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e"].Class)
	require.Equal(t, p2import.Ambiguous, reasons["intent/node3/api"].Class)
	require.Contains(t, reasons["intent/node3/api"].Reason, `manifest id "web" is not the pod id "api"`)
	require.Contains(t, reasons["hooks/before_install"].Reason, "hooks")
	require.Contains(t, reasons["rolls/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"].Reason, `needs RC "x1"`)

	_, err = im.Apply(ctx, p, false)
	require.ErrorIs(t, err, p2import.ErrBlocked)
	require.Empty(t, keysUnder(t, cli, "/p2/"), "nothing written while anything is blocked")

	// Partial: everything else is written, the problems are not.
	res, err := im.Apply(ctx, p, true)
	require.NoError(t, err)
	require.Len(t, res.Written, 33)
	require.Len(t, keysUnder(t, cli, "/p2/intent/"), 8)
	require.Len(t, keysUnder(t, cli, "/p2/replication_controllers/"), 2)
	require.Len(t, keysUnder(t, cli, "/p2/rolls/"), 1)
}

func TestExistingValueIsAmbiguous(t *testing.T) {
	ctx := context.Background()
	cli := etcdtest.New(t).Client(t)
	_, err := cli.Put(ctx, "/p2/labels/node/node2", `{"role":"db"}`)
	require.NoError(t, err)
	p, err := p2import.New(cli, "alice").Plan(ctx, fleetEntries(t))
	require.NoError(t, err)
	b := p.Blocking()
	require.Len(t, b, 1)
	require.Equal(t, "labels/node/node2", b[0].Source)
	require.Equal(t, p2import.Ambiguous, b[0].Class)
	require.Contains(t, b[0].Reason, "/p2/labels/node/node2")

	// Two entries that become one record (Consul keys with and without a leading "/").
	p, err = p2import.New(cli, "alice").Plan(ctx, []p2import.Entry{
		p2import.NewEntry("labels/node/node9", []byte(`{"role":"web"}`)),
		p2import.NewEntry("/labels/node/node9", []byte(`{"role":"db"}`)),
	})
	require.NoError(t, err)
	require.Len(t, p.Records, 1)
	b = p.Blocking()
	require.Len(t, b, 1)
	require.Equal(t, p2import.Ambiguous, b[0].Class)
	require.Contains(t, b[0].Reason, "also converts to /p2/labels/node/node9")
}

func TestReadExport(t *testing.T) {
	entries, err := p2import.ReadExport(strings.NewReader(`[{"key":"intent/n1/a","flags":0,"value":"aWQ6IGEK"}]`))
	require.NoError(t, err)
	require.Equal(t, "intent/n1/a", entries[0].Key)
	v, err := entries[0].Bytes()
	require.NoError(t, err)
	require.Equal(t, "id: a\n", string(v))
	for doc, want := range map[string]string{
		`{"key":"a"}`:                                     "want a JSON array",
		`[{"flags":0,"value":""}]`:                        "entry 0: key: required",
		`[{"key":"a","value":"!!"}]`:                      "entry 0 (a): value is not base64",
		`[{"key":"a","value":"","sess":1}]`:               "unknown field",
		`[{"key":"a","value":""},{"key":"a","value":""}]`: "key a is also entry 0",
	} {
		_, err := p2import.ReadExport(strings.NewReader(doc))
		require.ErrorIs(t, err, p2import.ErrExport, doc)
		require.ErrorContains(t, err, want, doc)
	}
}
