package daemonset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	"go.uber.org/zap"
)

// plan is what one pass found, node by node, for one daemon set.
//
// A pass over a daemon set of the whole fleet makes one: it keeps sorted
// lists and counts, not a map per node (at 100,000 nodes each such map
// was megabytes a pass).
type plan struct {
	matched      []string // sorted
	missing      []string // matched nodes to schedule
	scheduled    []string // matched nodes that hold the daemon set's pod, sorted
	stale        []string // scheduled nodes whose intent is another version
	staleHealthy []bool   // whether each of stale is healthy
	remove       []string // the daemon set's nodes that no longer match
	foreign      int      // matched nodes whose pod belongs to someone else
	healthy      int      // scheduled nodes whose pod is healthy
	current      int
	// isHealthy says whether a scheduled node's pod is healthy, as the
	// fleet view has it now.
	isHealthy func(node string) bool
}

// isScheduled says whether node is one of p.scheduled.
func (p *plan) isScheduled(node string) bool {
	_, ok := slices.BinarySearch(p.scheduled, node)
	return ok
}

// reconcile is one level-triggered pass over daemon set id: everything it
// does is derived from the daemon set, the fleet view and the farm's status
// record, so a restart loses nothing.
//
// Within a pass: a newer daemon set whose selector overlaps an older one of
// the same pod is disabled; a disabled one does nothing. Otherwise missing
// nodes are scheduled first, then stale nodes updated within min_health,
// then nodes that stopped matching unscheduled, unless the selector matches
// no node at all. With a rate_limit_interval, the pass takes at most one
// of these node actions and looks again after the interval; without one it
// takes them all, in batched transactions.
func (f *Farm) reconcile(ctx context.Context, id string, fence farm.Fence) error {
	obj, err := f.store.Get(ctx, id)
	if errors.Is(err, kv.ErrNotFound) {
		f.log.Info("daemon set is gone; its intent stays", zap.String("daemon_set", id))
		return nil
	}
	if err != nil {
		return err
	}
	ds := &obj.Value
	log := f.log.With(zap.String("daemon_set", id), zap.String("pod", ds.PodID))
	digest, err := ds.Manifest.Digest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	sel, err := labels.Parse(ds.NodeSelector)
	if err != nil {
		return fmt.Errorf("node_selector: %w", err)
	}
	prev, err := f.statuses.Get(ctx, status.DaemonSets, id)
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		log.Warn("unreadable status record; writing a new one", zap.Error(err))
	}
	var prevSt *Status
	if err == nil {
		prevSt = &prev.Value
	}
	st := &Status{ManifestDigest: digest, Disabled: ds.Disabled}
	if prevSt != nil {
		st.LastActionAt = prevSt.LastActionAt
		if ds.Disabled {
			st.DisabledReason = prevSt.DisabledReason
		}
	}

	matched := f.view.NodesMatching(sel)
	if !ds.Disabled {
		if reason := f.overlap(obj, matched); reason != "" {
			log.Warn("daemon set overlaps an older one; disabling it", zap.String("reason", reason))
			if _, err := f.store.Modify(ctx, f.cfg.Actor, id, func(v *DaemonSet) error {
				v.Disabled = true
				return nil
			}, Guard(fence.Cmps()...)); err != nil {
				return fmt.Errorf("disable: %w", err)
			}
			st.Disabled, st.DisabledReason = true, reason
			st.Matched = len(matched)
			return f.writeStatus(ctx, id, fence, prevSt, st)
		}
	}

	p, err := f.plan(ctx, obj, digest, matched)
	if err != nil {
		return err
	}
	st.Matched, st.Scheduled, st.Current, st.Foreign = len(p.matched), len(p.scheduled), p.current, p.foreign
	st.Healthy = p.healthy
	if ds.Disabled {
		st.Message = "disabled: schedules and unschedules nothing"
		return f.writeStatus(ctx, id, fence, prevSt, st)
	}

	keepRemoved := len(p.matched) == 0 && len(p.remove) > 0
	if keepRemoved {
		log.Warn("node selector matches no node; unscheduling nothing",
			zap.String("node_selector", ds.NodeSelector), zap.Int("nodes_kept", len(p.remove)))
		st.Message = fmt.Sprintf("node selector %q matches no node: unscheduling nothing (%d nodes keep the pod)",
			ds.NodeSelector, len(p.remove))
		p.remove = nil
	}
	updates, waiting, timedOut := f.updatable(id, ds, digest, p)
	st.TimedOut = timedOut
	if len(timedOut) > 0 && st.Message == "" {
		st.Message = fmt.Sprintf("%d node(s) not healthy within timeout %s", len(timedOut), ds.Timeout.Std())
	}
	if waiting && len(updates) == 0 && st.Message == "" {
		st.Message = "update waiting for min_health"
	}

	interval := ds.RateLimitInterval.Std()
	now := time.Now()
	if interval > 0 {
		work := len(p.missing) + len(updates) + len(p.remove)
		if work == 0 {
			return f.writeStatus(ctx, id, fence, prevSt, st)
		}
		last := st.LastActionAt
		f.mu.Lock()
		if t := f.last[id]; t.After(last) {
			last = t
		}
		f.mu.Unlock()
		if wait := last.Add(interval).Sub(now); wait > 0 {
			f.after(id, wait)
			return f.writeStatus(ctx, id, fence, prevSt, st)
		}
		switch {
		case len(p.missing) > 0:
			err = f.schedule(ctx, fence, id, ds, p.missing[:1], "schedule")
		case len(updates) > 0:
			err = f.schedule(ctx, fence, id, ds, updates[:1], "update")
		default:
			err = f.unschedule(ctx, fence, id, ds, p.remove[:1])
		}
		if err != nil {
			return err
		}
		f.noteAction(id, st, now)
		if work > 1 {
			f.after(id, interval)
		}
		return f.writeStatus(ctx, id, fence, prevSt, st)
	}

	acted := false
	if len(p.missing) > 0 {
		if err := f.schedule(ctx, fence, id, ds, p.missing, "schedule"); err != nil {
			return err
		}
		acted = true
	}
	if len(updates) > 0 {
		if err := f.schedule(ctx, fence, id, ds, updates, "update"); err != nil {
			return err
		}
		acted = true
	}
	if len(p.remove) > 0 {
		if err := f.unschedule(ctx, fence, id, ds, p.remove); err != nil {
			return err
		}
		acted = true
	}
	if acted {
		f.noteAction(id, st, now)
		// The counts in st predate the actions: look again to record
		// what they did.
		f.ctrl.Enqueue(id)
	}
	return f.writeStatus(ctx, id, fence, prevSt, st)
}

func (f *Farm) noteAction(id string, st *Status, at time.Time) {
	f.mu.Lock()
	f.last[id] = at
	f.mu.Unlock()
	st.LastActionAt = at.UTC()
}

// overlap returns why daemon set obj must be disabled: an older daemon set
// of the same pod whose selector matches one of the nodes obj's matches.
// Both would write the same intent keys.
func (f *Farm) overlap(obj *Object, matched []string) string {
	if len(matched) == 0 {
		return ""
	}
	f.mu.Lock()
	var others []*Object
	for _, o := range f.sets {
		if o.Name != obj.Name && o.Value.PodID == obj.Value.PodID &&
			(o.CreateRevision < obj.CreateRevision || o.CreateRevision == obj.CreateRevision && o.Name < obj.Name) {
			others = append(others, o)
		}
	}
	f.mu.Unlock()
	if len(others) == 0 {
		return ""
	}
	sort.Slice(others, func(i, j int) bool { return others[i].CreateRevision < others[j].CreateRevision })
	for _, o := range others {
		sel, err := labels.Parse(o.Value.NodeSelector)
		if err != nil {
			continue
		}
		var common []string
		for n := range f.view.MatchingNodes(sel).All() {
			if _, mine := slices.BinarySearch(matched, n); mine {
				common = append(common, n)
			}
		}
		if len(common) == 0 {
			continue
		}
		shown := common
		if len(shown) > 5 {
			shown = shown[:5]
		}
		return fmt.Sprintf("node selector overlaps older daemon set %q of pod %q on %d node(s) (%s); disabled",
			o.Name, o.Value.PodID, len(common), strings.Join(shown, ", "))
	}
	return ""
}

// plan sorts the nodes of daemon set obj by what they need.
// matched is sorted, as View.NodesMatching returns it.
func (f *Farm) plan(ctx context.Context, obj *Object, digest string, matched []string) (*plan, error) {
	id, pod := obj.Name, obj.Value.PodID
	p := &plan{matched: matched, scheduled: make([]string, 0, len(matched))}
	p.isHealthy = func(n string) bool {
		in, ok := f.view.Intent.Get(n + "/" + pod)
		return ok && f.view.Healthy(n, pod, f.view.IntentDigest(in))
	}
	gone := map[string]bool{} // owners confirmed deleted
	isGone := func(owner string) (bool, error) {
		if v, ok := gone[owner]; ok {
			return v, nil
		}
		_, err := f.store.Get(ctx, owner)
		switch {
		case errors.Is(err, kv.ErrNotFound):
			gone[owner] = true
		case err != nil:
			return false, fmt.Errorf("read owner %s of a pod: %w", owner, err)
		default:
			gone[owner] = false
		}
		return gone[owner], nil
	}
	for _, n := range matched {
		name := n + "/" + pod
		owner := ""
		if l, ok := f.view.PodLabels.Get(name); ok {
			owner = l.Value[OwnerLabel]
		}
		in, hasIntent := f.view.Intent.Get(name)
		switch {
		case owner == id && hasIntent:
			p.scheduled = append(p.scheduled, n)
			d := f.view.IntentDigest(in)
			h := f.view.Healthy(n, pod, d)
			if d == digest {
				p.current++
			} else {
				p.stale = append(p.stale, n)
				p.staleHealthy = append(p.staleHealthy, h)
			}
			if h {
				p.healthy++
			}
		case owner == id:
			p.missing = append(p.missing, n) // its intent was removed under it
		case owner != "":
			g, err := isGone(owner)
			if err != nil {
				return nil, err
			}
			if g {
				p.missing = append(p.missing, n) // a deleted daemon set's pod: adopt it
			} else {
				p.foreign++
			}
		case hasIntent:
			p.foreign++ // intent written by someone else
		default:
			p.missing = append(p.missing, n)
		}
	}
	for _, n := range f.ownedNodes(id, pod) {
		if _, ok := slices.BinarySearch(matched, n); !ok {
			p.remove = append(p.remove, n)
		}
	}
	return p, nil
}

// ownedNodes lists the nodes whose pod carries daemon set id's label,
// sorted. It reads the fleet view's index by OwnerLabel: it costs the
// daemon set's own pods, not the fleet.
func (f *Farm) ownedNodes(id, pod string) []string {
	nodes := make([]string, 0, f.owned.Len(id))
	f.owned.Range(id, func(o *kv.Object[labels.Set]) bool {
		if node, p, ok := strings.Cut(o.Name, "/"); ok && p == pod {
			nodes = append(nodes, node)
		}
		return true
	})
	sort.Strings(nodes) // "a-b/pod" sorts before "a/pod"
	return nodes
}

// updatable picks the stale nodes a pass may update now, keeping at least
// min_health percent of the scheduled nodes healthy: nodes that are not
// healthy anyway go first and cost nothing; each healthy one takes one
// unit of the budget (scheduled nodes minus the healthy ones required,
// and at least 1, so that an update always makes progress). A node
// updated by this farm that is not healthy within the timeout is reported
// in timedOut; it keeps counting as unhealthy, so a version that never
// becomes healthy halts the roll once the budget is spent.
func (f *Farm) updatable(id string, ds *DaemonSet, digest string, p *plan) (updates []string, waiting bool, timedOut []string) {
	n := len(p.scheduled)
	pct := min(max(ds.MinHealth, 0), 100)
	required := (pct*n + 99) / 100
	budget := max(n-required, 1)
	room := budget - (n - p.healthy)

	now := time.Now()
	f.mu.Lock()
	inflight := f.updating[id]
	if inflight == nil {
		inflight = map[string]updateAt{}
		f.updating[id] = inflight
	}
	timeout := ds.Timeout.Std()
	var next time.Duration // until the next in-flight node times out
	for node, u := range inflight {
		switch {
		case !p.isScheduled(node) || u.digest != digest || p.isHealthy(node):
			delete(inflight, node)
		case timeout > 0 && now.Sub(u.since) > timeout:
			timedOut = append(timedOut, node)
		case timeout > 0:
			if left := timeout - now.Sub(u.since); next == 0 || left < next {
				next = left
			}
		}
	}
	f.mu.Unlock()
	sort.Strings(timedOut)
	if len(timedOut) > 20 {
		timedOut = timedOut[:20]
	}
	if next > 0 {
		// Look again when it times out, to say so.
		f.after(id, next+time.Millisecond)
	}
	for i, node := range p.stale {
		if !p.staleHealthy[i] {
			updates = append(updates, node)
		}
	}
	for i, node := range p.stale {
		if p.staleHealthy[i] {
			if room <= 0 {
				waiting = true
				break
			}
			updates = append(updates, node)
			room--
		}
	}
	return updates, waiting, timedOut
}

// writeStatus writes st, fenced, unless it says what prev says.
func (f *Farm) writeStatus(ctx context.Context, id string, fence farm.Fence, prev, st *Status) error {
	if prev != nil && prev.same(st) {
		return nil
	}
	st.UpdatedAt = time.Now().UTC()
	op, err := f.statuses.PutOp(status.DaemonSets, id, st)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if _, err := kv.Commit(ctx, f.client, fence.Cmps(), op); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}
