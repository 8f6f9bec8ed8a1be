package failsafe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type item struct {
	N int    `json:"n"`
	S string `json:"s,omitempty"`
}

const (
	waitFor   = 15 * time.Second
	pollEvery = 10 * time.Millisecond
	// quiet is how long a negative check waits for nothing to happen.
	quiet = 300 * time.Millisecond
)

// fixture is one test's corner of a shared etcd: a root prefix for the
// failsafe keys and a watched prefix under it.
type fixture struct {
	c     *etcdtest.Cluster
	cli   *clientv3.Client
	root  string
	dir   string
	store *kv.Store[item]
	h     *failsafe.Holds
	reg   *prometheus.Registry
	logs  *observer.ObservedLogs
}

func newFixture(t *testing.T, c *etcdtest.Cluster, cli *clientv3.Client) *fixture {
	t.Helper()
	root := "/" + t.Name()
	core, logs := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	f := &fixture{
		c: c, cli: cli, root: root, dir: root + "/items/",
		store: kv.New[item](cli, root+"/items"),
		reg:   reg, logs: logs,
	}
	f.h = failsafe.NewHolds(cli, "test/"+t.Name(), failsafe.WithPrefix(root),
		failsafe.WithLogger(zap.New(core)), failsafe.WithRegistry(reg))
	return f
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func name(i int) string { return fmt.Sprintf("k%03d", i) }

func value(i int) string {
	data, _ := json.Marshal(item{N: i, S: "v"})
	return string(data)
}

// fill writes n keys k000.. with a raw client, one transaction.
func (f *fixture) fill(t *testing.T, n int) {
	t.Helper()
	var ops []clientv3.Op
	for i := 0; i < n; i++ {
		ops = append(ops, clientv3.OpPut(f.dir+name(i), value(i)))
	}
	_, err := kv.CommitChunked(ctxT(t), f.cli, nil, ops)
	require.NoError(t, err)
}

// restore puts the n keys back one at a time, with the same values.
func (f *fixture) restore(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		_, err := f.cli.Put(ctxT(t), f.dir+name(i), value(i))
		require.NoError(t, err)
	}
}

// wipe deletes the whole watched prefix in one request and returns its
// revision.
func (f *fixture) wipe(t *testing.T) int64 {
	t.Helper()
	resp, err := f.cli.Delete(ctxT(t), f.dir, clientv3.WithPrefix())
	require.NoError(t, err)
	require.NotZero(t, resp.Deleted)
	return resp.Header.Revision
}

// deleteKeys deletes keys k000..k<n-1> in one transaction.
func (f *fixture) deleteKeys(t *testing.T, n int) {
	t.Helper()
	var ops []clientv3.Op
	for i := 0; i < n; i++ {
		ops = append(ops, clientv3.OpDelete(f.dir+name(i)))
	}
	_, err := kv.Commit(ctxT(t), f.cli, nil, ops...)
	require.NoError(t, err)
}

// waitHolds polls until exactly n holds are recorded and returns them.
func (f *fixture) waitHolds(t *testing.T, n int) []failsafe.Record {
	t.Helper()
	var recs []failsafe.Record
	require.Eventually(t, func() bool {
		var err error
		recs, err = failsafe.ListHolds(ctxT(t), f.cli, f.root)
		require.NoError(t, err)
		return len(recs) == n
	}, waitFor, pollEvery, "want %d holds, have %v", n, &recs)
	return recs
}

// waitGone polls until key does not exist.
func (f *fixture) waitGone(t *testing.T, key string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := f.cli.Get(ctxT(t), key)
		require.NoError(t, err)
		return len(resp.Kvs) == 0
	}, waitFor, pollEvery, "%s still exists", key)
}

// seen is what a consumer copied out of one batch.
type seen struct {
	Kind     kv.BatchKind
	Events   []kv.Event[item]
	Before   int
	After    int
	Released bool
}

func (s seen) count(typ kv.EventType) int {
	n := 0
	for _, ev := range s.Events {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// consume pulls src from a goroutine until the test ends and sends what it
// sees on the returned channel.
func consume(t *testing.T, src kv.Source[item]) <-chan seen {
	ch := make(chan seen, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			b, err := src.Next(ctx)
			if err != nil {
				return
			}
			ch <- seen{
				Kind: b.Kind, Events: b.Events, Before: b.Before.Len(), After: b.After.Len(),
				Released: b.Released,
			}
		}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan seen) seen {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(waitFor):
		t.Fatal("no batch delivered")
	}
	return seen{}
}

// none checks that nothing is delivered for a short while.
func none(t *testing.T, ch <-chan seen) {
	t.Helper()
	select {
	case s := <-ch:
		t.Fatalf("unexpected %s batch of %d events", s.Kind, len(s.Events))
	case <-time.After(quiet):
	}
}

// sentinel writes a fresh key and requires the next batch to be exactly
// its creation: nothing else was delivered before it.
func (f *fixture) sentinel(t *testing.T, ch <-chan seen) {
	t.Helper()
	_, err := f.cli.Put(ctxT(t), f.dir+"zz-sentinel", value(999))
	require.NoError(t, err)
	s := recv(t, ch)
	require.Len(t, s.Events, 1, "a batch other than the sentinel was delivered: %s", s.Kind)
	require.Equal(t, "zz-sentinel", s.Events[0].Name)
	require.Equal(t, kv.Create, s.Events[0].Type)
}

// counter reads a counter or gauge of reg by name and labels.
func counter(t *testing.T, reg *prometheus.Registry, metric string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
