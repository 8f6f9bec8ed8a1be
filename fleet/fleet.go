// Package fleet keeps the controllers' shared picture of the fleet: node
// and pod labels, intent, reality and pod status, each mirrored from its
// own watch behind failsafe guards, with change notifications that farms
// turn into "look again".
package fleet

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Source names what changed.
type Source int

const (
	NodeLabels Source = iota + 1
	PodLabels
	Intent
	Reality
	PodStatus
)

// String names the source.
func (s Source) String() string {
	switch s {
	case NodeLabels:
		return "node labels"
	case PodLabels:
		return "pod labels"
	case Intent:
		return "intent"
	case Reality:
		return "reality"
	case PodStatus:
		return "pod status"
	}
	return fmt.Sprintf("source(%d)", int(s))
}

// Change says that a name of one source changed. For pods the name is
// "<node>/<pod-id>"; for node labels it is the node.
type Change struct {
	Source Source
	Names  []string
}

// View is the mirrored fleet. Create it with New, start it with Run.
//
// What the mirrors hold is read-only: the objects are shared with every
// reader, and label sets and manifests read from equal bytes share their
// maps (kv.Shared), so a set changed in place would change it for other
// nodes too. Clone what you change.
type View struct {
	client *clientv3.Client
	prefix string
	holds  *failsafe.Holds
	log    *zap.Logger

	NodeLabels *Mirror[labels.Set]
	PodLabels  *Mirror[labels.Set]
	Intent     *Mirror[manifest.Manifest]
	Reality    *Mirror[manifest.Manifest]
	Status     *Mirror[status.PodStatus]

	mu      sync.Mutex
	subs    map[int]func(Change)
	nextSub int
	// Manifest digests by key name, computed once per revision.
	realityDigests, intentDigests digestMemo

	podLabelsByPod *Index[labels.Set]
	intentByPod    *Index[manifest.Manifest]
	idxMu          sync.Mutex
	labelIdx       map[string]*Index[labels.Set] // pod labels by the value of a label key; under idxMu
	matchMu        sync.Mutex
	match          matchCache // under matchMu
}

type digestAt struct {
	rev    int64
	digest string
}

// digestMemo remembers the digests of manifests by key name and revision:
// controllers compare every node's intent or reality with their manifest
// on each pass, and a digest is a canonical JSON encoding and a hash (the
// RC farm's were 13% of a 10,000-node simulation's allocations).
type digestMemo struct {
	mu sync.Mutex
	m  map[string]digestAt
}

// of is o's digest, or "" when it has none.
func (d *digestMemo) of(o *kv.Object[manifest.Manifest]) string {
	d.mu.Lock()
	at, ok := d.m[o.Name]
	d.mu.Unlock()
	if ok && at.rev == o.ModRevision {
		return at.digest
	}
	digest, err := o.Value.Digest()
	if err != nil {
		return ""
	}
	d.mu.Lock()
	if d.m == nil {
		d.m = map[string]digestAt{}
	}
	d.m[o.Name] = digestAt{rev: o.ModRevision, digest: digest}
	d.mu.Unlock()
	return digest
}

// New returns a view over the keys under prefix. Holds of its guards are
// recorded through holds.
func New(client *clientv3.Client, prefix string, holds *failsafe.Holds, log *zap.Logger) *View {
	if log == nil {
		log = zap.NewNop()
	}
	v := &View{
		client:     client,
		prefix:     prefix,
		holds:      holds,
		log:        log,
		NodeLabels: newMirror[labels.Set](),
		PodLabels:  newMirror[labels.Set](),
		Intent:     newMirror[manifest.Manifest](),
		Reality:    newMirror[manifest.Manifest](),
		Status:     newMirror[status.PodStatus](),
		subs:       map[int]func(Change){},
		labelIdx:   map[string]*Index[labels.Set]{},
	}
	v.podLabelsByPod = v.PodLabels.AddIndex(byPodID[labels.Set])
	v.intentByPod = v.Intent.AddIndex(byPodID[manifest.Manifest])
	return v
}

// Subscribe calls fn after every applied batch until the returned cancel
// is called. fn runs on the watch's goroutine: keep it short (queue work,
// do not do it).
func (v *View) Subscribe(fn func(Change)) (cancel func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.nextSub
	v.nextSub++
	v.subs[n] = fn
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		delete(v.subs, n)
	}
}

// WaitFor blocks until the mirrors of srcs have applied etcd revision rev
// (see Mirror.WaitFor), or ctx ends. Name the sources a write at rev
// touched: a mirror whose keys did not change does not reach rev.
func (v *View) WaitFor(ctx context.Context, rev int64, srcs ...Source) error {
	for _, src := range srcs {
		var err error
		switch src {
		case NodeLabels:
			err = v.NodeLabels.WaitFor(ctx, rev)
		case PodLabels:
			err = v.PodLabels.WaitFor(ctx, rev)
		case Intent:
			err = v.Intent.WaitFor(ctx, rev)
		case Reality:
			err = v.Reality.WaitFor(ctx, rev)
		case PodStatus:
			err = v.Status.WaitFor(ctx, rev)
		default:
			return fmt.Errorf("fleet view: unknown source %d", src)
		}
		if err != nil {
			return fmt.Errorf("fleet view: %s: %w", src, err)
		}
	}
	return nil
}

func (v *View) notify(src Source) func([]string) {
	return func(names []string) {
		v.mu.Lock()
		subs := make([]func(Change), 0, len(v.subs))
		for i := range v.nextSub {
			if fn, ok := v.subs[i]; ok {
				subs = append(subs, fn)
			}
		}
		v.mu.Unlock()
		for _, fn := range subs {
			fn(Change{Source: src, Names: names})
		}
	}
}

// Run follows the fleet until ctx ends. Node labels are guarded with
// NotEmpty: an empty label tree where labels existed is held, not read as
// "no node matches". Pod labels, intent, reality and status are guarded
// with MaxDeletes(10, 0.5): a wipe of more than ten pods is held, while
// controllers removing pods one transaction at a time, down to none, are
// not.
func (v *View) Run(ctx context.Context) error {
	// The view only reads label sets, and holds the same few (a daemon
	// set's pod labels, the node labels of a pool) for many nodes.
	ls := labels.New(v.client, keyspace.WithPrefix(v.prefix), keyspace.WithLogger(v.log), keyspace.WithSharedValues())
	is := intent.NewStore(v.client, keyspace.WithPrefix(v.prefix), keyspace.WithLogger(v.log))
	rs := reality.NewStore(v.client, keyspace.WithPrefix(v.prefix), keyspace.WithLogger(v.log))
	ss := status.NewPodStatusStore(v.client, keyspace.WithPrefix(v.prefix), keyspace.WithLogger(v.log))
	sw, err := ss.WatchAll(ctx)
	if err != nil {
		return err
	}
	nw, err := ls.Watch(ctx, labels.Node)
	if err != nil {
		return err
	}
	pw, err := ls.Watch(ctx, labels.Pod)
	if err != nil {
		return err
	}

	errs := make(chan error, 5)
	var wg sync.WaitGroup
	wg.Go(func() {
		errs <- v.NodeLabels.run(ctx, failsafe.Chain[labels.Set](nw,
			failsafe.NotEmpty[labels.Set](v.holds)), v.notify(NodeLabels))
	})
	wg.Go(func() {
		errs <- v.PodLabels.run(ctx, guardPods[labels.Set](pw, v.holds), v.notify(PodLabels))
	})
	wg.Go(func() {
		errs <- v.Intent.run(ctx, guardPods[manifest.Manifest](is.WatchAll(ctx), v.holds), v.notify(Intent))
	})
	wg.Go(func() {
		errs <- v.Reality.run(ctx, guardPods[manifest.Manifest](rs.WatchAll(ctx), v.holds), v.notify(Reality))
	})
	wg.Go(func() {
		errs <- v.Status.run(ctx, guardPods[status.PodStatus](sw, v.holds), v.notify(PodStatus))
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

func guardPods[T any](src kv.Source[T], h *failsafe.Holds) kv.Source[T] {
	return failsafe.Chain(src, failsafe.MaxDeletes[T](h, 10, 0.5))
}

// WaitSynced blocks until every mirror has its first listing, or ctx ends.
func (v *View) WaitSynced(ctx context.Context) error {
	for _, ch := range []<-chan struct{}{v.NodeLabels.Synced(), v.PodLabels.Synced(),
		v.Intent.Synced(), v.Reality.Synced(), v.Status.Synced()} {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// PodsMatching lists the pods ("<node>/<pod-id>") whose pod labels match
// sel, sorted.
func (v *View) PodsMatching(sel labels.Selector) []string {
	var pods []string
	v.PodLabels.Range(func(o *kv.Object[labels.Set]) bool {
		if sel.Matches(o.Value) {
			pods = append(pods, o.Name)
		}
		return true
	})
	sort.Strings(pods)
	return pods
}

// NodesWithIntent lists the nodes whose intent holds podID, sorted. It
// costs the nodes that have the pod, not the fleet.
func (v *View) NodesWithIntent(podID string) []string {
	return nodesOf(v.intentByPod.Names(podID))
}

// Healthy reports whether pod on node runs the manifest with digest and
// its health check passes: reality has that version and the preparer's
// record says launched, passing, for that digest.
func (v *View) Healthy(node, pod, digest string) bool {
	// One string for both keys: a daemon set's pass asks this of every node.
	key := node + "/" + pod + "/" + status.PreparerNamespace
	r, ok := v.Reality.Get(key[:len(node)+1+len(pod)])
	if !ok {
		return false
	}
	if v.realityDigest(r) != digest {
		return false
	}
	s, ok := v.Status.Get(key)
	if !ok {
		return false
	}
	return s.Value.Status == status.Launched && s.Value.ManifestDigest == digest && s.Value.Health == status.Passing
}

// RealityDigest is the digest of the manifest pod on node has installed,
// or "" when it has none.
func (v *View) RealityDigest(node, pod string) string {
	r, ok := v.Reality.Get(node + "/" + pod)
	if !ok {
		return ""
	}
	return v.realityDigest(r)
}

func (v *View) realityDigest(r *kv.Object[manifest.Manifest]) string { return v.realityDigests.of(r) }

// IntentDigest is the digest of an intent object (one of the view's, or
// one read from the intent store), or "" when it has none. It is computed
// once per revision of the object's key.
func (v *View) IntentDigest(o *kv.Object[manifest.Manifest]) string { return v.intentDigests.of(o) }
