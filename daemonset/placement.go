package daemonset

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// commitParallel is how many transactions of one batch are in flight at
// once: etcd commits concurrent proposals together.
const commitParallel = 8

// nodeOps are the writes of one node, which always share a transaction:
// a pod's intent is never written without its owner label.
type nodeOps struct {
	node string
	cmps []clientv3.Cmp
	ops  []clientv3.Op
}

// schedule writes the daemon set's manifest onto nodes with its owner
// label ("schedule"), or the manifest alone ("update"), fenced, then waits
// until the fleet view shows the writes.
func (f *Farm) schedule(ctx context.Context, fence farm.Fence, id string, ds *DaemonSet, nodes []string, action string) error {
	current := func(name string) (labels.Set, bool) {
		l, ok := f.view.PodLabels.Get(name)
		if !ok {
			return nil, false
		}
		return l.Value, true
	}
	work, err := scheduleOps(f.intent, f.podLbls, current, id, ds, nodes, action == "schedule")
	if err != nil {
		return err
	}
	revs, err := commitNodes(ctx, f.client, fence, work)
	if err != nil {
		return fmt.Errorf("%s %d node(s): %w", action, len(nodes), err)
	}
	f.m.actions.WithLabelValues(action).Add(float64(len(nodes)))
	if action == "update" {
		digest, _ := ds.Manifest.Digest()
		now := time.Now()
		f.mu.Lock()
		if f.updating[id] == nil {
			f.updating[id] = map[string]updateAt{}
		}
		for _, n := range nodes {
			f.updating[id][n] = updateAt{digest: digest, since: now}
		}
		f.mu.Unlock()
	}
	if len(nodes) <= 3 {
		f.log.Info("daemon set pod "+action+"d", zap.String("daemon_set", id), zap.String("pod", ds.PodID),
			zap.Strings("nodes", nodes))
	} else {
		f.log.Info("daemon set pod "+action+"d", zap.String("daemon_set", id), zap.String("pod", ds.PodID),
			zap.Int("nodes", len(nodes)))
	}
	srcs := []fleet.Source{fleet.Intent}
	if action == "schedule" {
		srcs = append(srcs, fleet.PodLabels)
	}
	return f.waitView(ctx, fmt.Sprintf("daemon set %s: %s of %d node(s)", id, action, len(nodes)), maxRev(revs), srcs...)
}

// scheduleOps returns the writes of ds's manifest onto nodes and, with
// withLabels, of the owner label into each pod's labels (current returns
// the labels a pod has). The manifest and the usual label set are encoded
// and validated once; every node's write reuses the bytes.
func scheduleOps(is *intent.Store, pl *kv.Store[labels.Set], current func(name string) (labels.Set, bool),
	id string, ds *DaemonSet, nodes []string, withLabels bool) ([]nodeOps, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	first, err := is.SetOp(nodes[0], &ds.Manifest)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", nodes[0], err)
	}
	mdata := string(first.ValueBytes())
	owned := labels.Set{OwnerLabel: id, PodIDLabel: ds.PodID}
	lfirst, err := pl.PutOp(labels.PodID(nodes[0], ds.PodID), &owned)
	if err != nil {
		return nil, fmt.Errorf("pod labels: %w", err)
	}
	ldata := string(lfirst.ValueBytes())
	work := make([]nodeOps, 0, len(nodes))
	for _, n := range nodes {
		key, err := is.Key(n, ds.PodID)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n, err)
		}
		w := nodeOps{node: n, ops: []clientv3.Op{clientv3.OpPut(key, mdata)}}
		if withLabels {
			name := labels.PodID(n, ds.PodID)
			var lop clientv3.Op
			if l, ok := current(name); ok && len(l) > 0 && !l.Equal(owned) {
				set := l.Clone() // keep the pod's other labels
				set[OwnerLabel] = id
				set[PodIDLabel] = ds.PodID
				lop, err = pl.PutOp(name, &set)
			} else {
				var lkey string
				lkey, err = pl.Key(name)
				lop = clientv3.OpPut(lkey, ldata)
			}
			if err != nil {
				return nil, fmt.Errorf("pod labels on node %s: %w", n, err)
			}
			w.ops = append(w.ops, lop)
		}
		work = append(work, w)
	}
	return work, nil
}

// unschedule deletes the daemon set's pod and its labels from nodes, each
// only while its labels are the ones the farm read (still the daemon
// set's), fenced.
func (f *Farm) unschedule(ctx context.Context, fence farm.Fence, id string, ds *DaemonSet, nodes []string) error {
	work := make([]nodeOps, 0, len(nodes))
	for _, n := range nodes {
		name := labels.PodID(n, ds.PodID)
		l, ok := f.view.PodLabels.Get(name)
		if !ok || l.Value[OwnerLabel] != id {
			continue
		}
		op, err := f.intent.DeleteOp(n, ds.PodID)
		if err != nil {
			return fmt.Errorf("unschedule node %s: %w", n, err)
		}
		lop, err := f.podLbls.DeleteOp(name)
		if err != nil {
			return fmt.Errorf("pod labels on node %s: %w", n, err)
		}
		work = append(work, nodeOps{node: n, cmps: []clientv3.Cmp{f.podLbls.Unchanged(l)}, ops: []clientv3.Op{op, lop}})
	}
	revs, err := commitNodes(ctx, f.client, fence, work)
	if err != nil {
		return fmt.Errorf("unschedule %d node(s): %w", len(nodes), err)
	}
	f.m.actions.WithLabelValues("unschedule").Add(float64(len(work)))
	f.log.Info("daemon set pod unscheduled: node no longer matches", zap.String("daemon_set", id),
		zap.String("pod", ds.PodID), zap.Int("nodes", len(work)), zap.Strings("first", nodes[:min(len(nodes), 3)]))
	return f.waitView(ctx, fmt.Sprintf("daemon set %s: unschedule of %d node(s)", id, len(work)), maxRev(revs), fleet.Intent, fleet.PodLabels)
}

// maxRev is the newest revision of revs: the view shows every write once
// it has applied that one.
func maxRev(revs map[string]int64) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r)
	}
	return m
}

// commitNodes writes the nodes' operations in fenced transactions of at
// most kv.MaxTxnOps operations (and compares), never splitting a node, with
// up to commitParallel transactions in flight. It returns the revision each
// node was written at. Transactions are not atomic together: on an error
// some nodes may be written, and a retry writes them again, harmlessly.
func commitNodes(ctx context.Context, client *clientv3.Client, fence farm.Fence, work []nodeOps) (map[string]int64, error) {
	guard := fence.Cmps()
	var chunks [][]nodeOps
	for start := 0; start < len(work); {
		ops, cmps := 0, len(guard)
		end := start
		for end < len(work) && ops+len(work[end].ops) <= kv.MaxTxnOps && cmps+len(work[end].cmps) <= kv.MaxTxnOps {
			ops += len(work[end].ops)
			cmps += len(work[end].cmps)
			end++
		}
		if end == start {
			return nil, fmt.Errorf("node %s: %d operations do not fit in one transaction", work[start].node, len(work[start].ops))
		}
		chunks = append(chunks, work[start:end])
		start = end
	}

	revs := make(map[string]int64, len(work))
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, commitParallel)
	for _, chunk := range chunks {
		sem <- struct{}{}
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			cmps := append([]clientv3.Cmp{}, guard...)
			var ops []clientv3.Op
			for _, w := range chunk {
				cmps = append(cmps, w.cmps...)
				ops = append(ops, w.ops...)
			}
			resp, err := kv.Commit(ctx, client, cmps, ops...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("nodes %s to %s: %w", chunk[0].node, chunk[len(chunk)-1].node, err)
				}
				return
			}
			for _, w := range chunk {
				revs[w.node] = resp.Header.Revision
			}
		})
	}
	wg.Wait()
	return revs, firstErr
}
