package e2e

import (
	"context"
	"fmt"
	"github.com/p2kit/p2kit/etcdtest"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestWipeRestoredKeyByKey runs issue 12's scenario with the reference
// preparer binary against embedded etcd, Debian's etcd 3.4 and etcd 3.6.
func TestWipeRestoredKeyByKey(t *testing.T) { forServers(t, dayTwoServers, testWipeRestored) }

// wipedApps run beside the node's own preparer.
var wipedApps = []string{"api", "cron", "web", "worker", "zipkin"}

// testWipeRestored deletes a node's whole intent with one delete-prefix,
// then writes it back one key at a time, in sorted, reverse and random
// order (one node each): no reality key is deleted, no app restarted and
// no hold is left.
func testWipeRestored(t *testing.T, c *cluster) {
	orders := []struct {
		name  string
		order func(*testing.T, []*mvccpb.KeyValue)
	}{
		{"sorted", func(*testing.T, []*mvccpb.KeyValue) {}},
		{"reverse", func(_ *testing.T, kvs []*mvccpb.KeyValue) { slices.Reverse(kvs) }},
		{"random", func(t *testing.T, kvs []*mvccpb.KeyValue) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("random restore order: seed %d", seed)
			rand.New(rand.NewPCG(seed, seed)).Shuffle(len(kvs), func(i, j int) { kvs[i], kvs[j] = kvs[j], kvs[i] })
		}},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			sub := *c
			sub.t = t
			n := newWipedNode(t, &sub, "wipe-"+o.name)
			backup, deletes := n.wipe()
			o.order(t, backup)
			keys := make([]string, len(backup))
			for i, kvp := range backup {
				keys[i] = string(kvp.Key)
				_, err := c.cli.Put(n.ctx, string(kvp.Key), string(kvp.Value))
				require.NoError(t, err)
				n.waitMissing(len(backup) - i - 1)
			}
			t.Logf("restored in order %v", keys)
			n.requireUntouched(deletes)
		})
	}
}

// wipedNode is one node run by the reference preparer binary.
type wipedNode struct {
	t      *testing.T
	c      *cluster
	ctx    context.Context
	node   string
	root   string
	intent *intent.Store
	status *status.PodStatusStore
	apps   map[string]*manifest.Manifest
	pids   map[string]int
}

// launchScript records the app's pid in the pod's home, then sleeps as
// that same process.
const launchScript = "#!/bin/sh\necho $$ > \"$POD_HOME/pid\"\nexec sleep 1000\n"

func newWipedNode(t *testing.T, c *cluster, node string) *wipedNode {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	n := &wipedNode{t: t, c: c, ctx: ctx, node: node, root: t.TempDir(),
		intent: intent.NewStore(c.cli), status: status.NewPodStatusStore(c.cli),
		apps: map[string]*manifest.Manifest{}, pids: map[string]int{}}
	stopAppsAtCleanup(t, n.root)
	n.set(n.app("p2-preparer"))
	c.start("preparer", "--node", node, "--pod-root", n.root)
	for _, pod := range wipedApps {
		n.apps[pod] = n.app(pod)
		n.set(n.apps[pod])
	}
	for _, pod := range wipedApps {
		n.launched(n.apps[pod])
		n.pids[pod] = n.pid(pod)
	}
	return n
}

// app is a manifest of pod id with an artifact of its own.
func (n *wipedNode) app(id string) *manifest.Manifest {
	loc, digest, err := artifacttest.Write(filepath.Join(n.t.TempDir(), id+".tar.gz"), map[string]artifacttest.File{
		"bin/launch": {Body: launchScript, Exec: true},
		"ID":         {Body: id},
	})
	require.NoError(n.t, err)
	return &manifest.Manifest{ID: id, TerminationGracePeriod: 1, Launchables: map[string]manifest.Launchable{
		"app": {LaunchableType: manifest.LaunchableTypeHoist, Location: loc, Digest: digest}}}
}

func (n *wipedNode) set(m *manifest.Manifest) {
	n.t.Helper()
	_, err := n.intent.Set(n.ctx, n.node, m)
	require.NoError(n.t, err)
}

// launched waits until the preparer's record says m runs and is healthy.
func (n *wipedNode) launched(m *manifest.Manifest) {
	n.t.Helper()
	d, err := m.Digest()
	require.NoError(n.t, err)
	var last status.PodStatus
	require.Eventually(n.t, func() bool {
		o, err := n.status.Get(n.ctx, n.node, m.ID)
		if err != nil {
			return false
		}
		last = o.Value
		return last.Status == status.Launched && last.ManifestDigest == d && last.Health == status.Passing
	}, waitFor, 50*time.Millisecond, "%s/%s never launched: last %+v", n.node, m.ID, last)
}

// pid waits until the pod's app has written its pid and runs.
func (n *wipedNode) pid(pod string) int {
	n.t.Helper()
	var pid int
	require.Eventually(n.t, func() bool {
		data, err := os.ReadFile(filepath.Join(n.root, pod, "pid"))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && alive(pid)
	}, waitFor, 50*time.Millisecond, "%s/%s has no running app", n.node, pod)
	return pid
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses; Z is a zombie.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// holds returns the node's preparer's hold records.
func (n *wipedNode) holds() ([]failsafe.Record, error) {
	all, err := failsafe.ListHolds(n.ctx, n.c.cli, "/p2")
	var mine []failsafe.Record
	for _, r := range all {
		if r.Component == "preparer/"+n.node {
			mine = append(mine, r)
		}
	}
	return mine, err
}

func (n *wipedNode) waitHolds(want int) {
	n.t.Helper()
	require.Eventually(n.t, func() bool {
		h, err := n.holds()
		return err == nil && len(h) == want
	}, waitFor, 50*time.Millisecond, "%s never had %d holds", n.node, want)
}

// waitMissing waits until the node's hold record counts missing deleted
// keys, that is until the preparer has judged the last key written back:
// a hold ends by itself only once no key is missing, so while one is the
// hold must still be there.
func (n *wipedNode) waitMissing(missing int) {
	n.t.Helper()
	if missing == 0 {
		return
	}
	var last []failsafe.Record
	require.Eventually(n.t, func() bool {
		var err error
		last, err = n.holds()
		return err == nil && len(last) == 1 && last[0].Deletes == missing
	}, waitFor, 20*time.Millisecond, "%s: no hold counts %d missing keys: %+v", n.node, missing, last)
}

// wipe saves the node's intent (sorted by key), starts watching reality
// from the revision of that read, deletes the intent with one
// delete-prefix and waits until the preparer holds it.
func (n *wipedNode) wipe() ([]*mvccpb.KeyValue, *etcdtest.Deletes) {
	n.t.Helper()
	prefix := "/p2/intent/" + n.node + "/"
	resp, err := n.c.cli.Get(n.ctx, prefix, clientv3.WithPrefix())
	require.NoError(n.t, err)
	require.Len(n.t, resp.Kvs, len(wipedApps)+1)
	deletes := etcdtest.WatchDeletes(n.t, n.c.cli, "/p2/reality/"+n.node+"/", resp.Header.Revision)
	_, err = n.c.cli.Delete(n.ctx, prefix, clientv3.WithPrefix())
	require.NoError(n.t, err)
	n.waitHolds(1)
	return resp.Kvs, deletes
}

// requireUntouched checks that the hold ended by itself, the preparer acts
// on intent again, no reality key was deleted and no app restarted.
func (n *wipedNode) requireUntouched(deletes *etcdtest.Deletes) {
	t := n.t
	t.Helper()
	n.waitHolds(0)
	// A pod written now is installed: its batch comes after whatever the
	// restore delivered, so every action the restore caused was taken.
	later := n.app("later")
	n.set(later)
	n.launched(later)
	n.waitHolds(0)
	require.Empty(t, deletes.Since(), "reality lost a key")
	for _, pod := range wipedApps {
		require.Equal(t, n.pids[pod], n.pid(pod), "%s was restarted", pod)
	}
}
