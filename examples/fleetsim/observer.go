package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/status"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// observer follows what the preparers report, on a client of its own that
// is not counted: the pods in reality, the preparers' pod status records,
// their node records and the failsafe holds. Four prefix watches on one
// client add one watcher each to etcd, which the server-side figures
// include.
type observer struct {
	cli    *clientv3.Client
	prefix string

	mu       sync.Mutex
	self     map[string]bool    // nodes whose self pod is in reality
	real     map[string]int     // node -> pods in its reality, the self pod left out
	pods     map[string]podSeen // "<node>/<pod>" -> what the preparer's record says
	recorded map[string]int     // node -> the pod count its node record gives
	holds    map[string]string  // hold id -> component
	digests  map[string]string  // the manifest digests seen, each string once
}

func newObserver(cli *clientv3.Client, prefix string) *observer {
	return &observer{cli: cli, prefix: prefix, self: map[string]bool{}, real: map[string]int{},
		pods: map[string]podSeen{}, recorded: map[string]int{}, holds: map[string]string{}, digests: map[string]string{}}
}

// start lists and then watches each prefix until ctx ends. A watch that
// ends before (its revision compacted) is given to fail: the observer
// would no longer see the fleet, and the run's figures would be wrong.
func (o *observer) start(ctx context.Context, fail func(error)) error {
	follows := []struct {
		dir string
		fn  func(name string, kv *mvccpb.KeyValue, deleted bool)
	}{
		{o.prefix + "/reality/", o.onReality},
		{o.prefix + "/status/pods/", o.onStatus},
		{o.prefix + "/status/nodes/", o.onNode},
		{failsafe.HoldKey(o.prefix, ""), o.onHold},
	}
	for _, f := range follows {
		resp, err := o.cli.Get(ctx, f.dir, clientv3.WithPrefix())
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			kv.Version = 1 // new to the observer (onReality counts creations)
			f.fn(strings.TrimPrefix(string(kv.Key), f.dir), kv, false)
		}
		wch := o.cli.Watch(ctx, f.dir, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		go func() {
			var err error
			for wr := range wch {
				for _, ev := range wr.Events {
					f.fn(strings.TrimPrefix(string(ev.Kv.Key), f.dir), ev.Kv, ev.Type == mvccpb.DELETE)
				}
				if e := wr.Err(); e != nil {
					err = e
				}
			}
			if ctx.Err() == nil {
				fail(fmt.Errorf("observer: the watch of %s ended (%v)", f.dir, err))
			}
		}()
	}
	return nil
}

// onReality counts a node's pods from creations and deletions: a
// deletion follows its creation, and a put to a key that exists is a
// modification (Version above 1).
func (o *observer) onReality(name string, kv *mvccpb.KeyValue, deleted bool) {
	node, pod, _ := strings.Cut(name, "/")
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case pod == preparer.DefaultSelfPodID && deleted:
		delete(o.self, node)
	case pod == preparer.DefaultSelfPodID:
		o.self[node] = true
	case deleted:
		o.real[node]--
	case kv.Version == 1:
		o.real[node]++
	}
}

// onNode notes the pod count of a preparer's node record.
func (o *observer) onNode(name string, kv *mvccpb.KeyValue, deleted bool) {
	node, ok := strings.CutSuffix(name, "/preparer")
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if deleted {
		delete(o.recorded, node)
		return
	}
	var r status.NodeRecord
	if err := json.Unmarshal(kv.Value, &r); err == nil {
		o.recorded[node] = r.Pods
	}
}

// settled reports whether node's record gives the pods its reality has,
// and no status record of the pods gone is left.
func (o *observer) settled(node string, gone []string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n, ok := o.recorded[node]; !ok || n != o.real[node] {
		return false
	}
	for _, pod := range gone {
		if _, ok := o.pods[node+"/"+pod]; ok {
			return false
		}
	}
	return true
}

func (o *observer) onStatus(name string, kv *mvccpb.KeyValue, deleted bool) {
	pod, ok := strings.CutSuffix(name, "/"+status.PreparerNamespace)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if deleted {
		delete(o.pods, pod)
		return
	}
	var st status.PodStatus
	if err := json.Unmarshal(kv.Value, &st); err == nil {
		if d, ok := o.digests[st.ManifestDigest]; ok {
			st.ManifestDigest = d // one copy of each digest
		} else {
			o.digests[st.ManifestDigest] = st.ManifestDigest
		}
		o.pods[pod] = podSeen{status: st.Status, health: st.Health, digest: st.ManifestDigest}
	}
}

// podSeen is what the observer keeps of a pod status record: the fields
// the phases converge on, and not the rest (processes, times), which
// would be the simulation's heap and no preparer's.
type podSeen struct {
	status status.PodState
	health status.Health
	digest string
}

func (o *observer) onHold(id string, kv *mvccpb.KeyValue, deleted bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if deleted {
		delete(o.holds, id)
		return
	}
	var r failsafe.Record
	if err := json.Unmarshal(kv.Value, &r); err == nil {
		o.holds[id] = r.Component
	}
}

// selfSeen counts the nodes whose preparer has written its self pod to
// reality: the preparer runs and sees itself.
func (o *observer) selfSeen() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.self)
}

// healthy counts the nodes whose preparer reports pod launched at digest
// with its health check passing.
func (o *observer) healthy(pod, digest string) int {
	suffix := "/" + pod
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for name, st := range o.pods {
		if strings.HasSuffix(name, suffix) && st.status == status.Launched &&
			st.digest == digest && st.health == status.Passing {
			n++
		}
	}
	return n
}

// holdsOf counts the holds whose component starts with prefix.
func (o *observer) holdsOf(prefix string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.holds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// holdComponents returns the components, starting with prefix, that have
// a hold.
func (o *observer) holdComponents(prefix string) map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]bool{}
	for _, c := range o.holds {
		if strings.HasPrefix(c, prefix) {
			m[c] = true
		}
	}
	return m
}

// poll calls fn every interval until it returns true, an error, or ctx
// ends.
func poll(ctx context.Context, every time.Duration, fn func() (bool, error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		done, err := fn()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
