package main

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// rollHeaders are the columns of a roll's row: the roll, then its phase,
// its progress (new RC healthy / desired) and the farm's message, read
// from its status record.
var rollHeaders = []string{"ID", "OLD_RC", "NEW_RC", "DESIRED", "MINIMUM", "LEAVE_OLD", "DEADLINE", "PHASE", "PROGRESS", "MESSAGE"}

// rollOps are the roll store's ops whose rows carry the roll farm's
// status. In the table of list, a finished roll (which the farm deleted)
// still shows from its status record with its final phase, revision 0.
func rollOps(a *app, cli *clientv3.Client) ops[roll.Roll] {
	s := roll.NewStore(cli, keyspace.WithPrefix(a.prefix))
	rs := &rollStatuses{store: roll.NewStatusStore(cli, keyspace.WithPrefix(a.prefix)), byID: map[string]*roll.Status{}}
	o := controllerOps(s, a.actor, func(r *roll.Roll) string { return r.ID },
		table[roll.Roll]{headers: rollHeaders, cells: rs.cells}, nil)
	get, list := o.get, o.list
	o.get = func(ctx context.Context, ids []string) (*kv.Object[roll.Roll], error) {
		obj, err := get(ctx, ids)
		if err == nil {
			rs.load(ctx, ids[0])
		}
		return obj, err
	}
	o.list = func(ctx context.Context, node string) (*kv.Listing[roll.Roll], error) {
		l, err := list(ctx, node)
		if err != nil {
			return nil, err
		}
		if err := rs.loadAll(ctx); err != nil {
			return nil, err
		}
		if !a.structured() {
			l.Items = append(l.Items, rs.finished(s, l)...)
		}
		return l, nil
	}
	return o
}

// rollStatuses caches the roll farm's status records a listing read.
type rollStatuses struct {
	store *status.Store[roll.Status]
	mu    sync.Mutex
	byID  map[string]*roll.Status
}

func (rs *rollStatuses) load(ctx context.Context, id string) {
	o, err := rs.store.Get(ctx, status.Rolls, id)
	if err != nil {
		return // no record (yet), or a bad one: the row shows "-"
	}
	rs.mu.Lock()
	rs.byID[id] = &o.Value
	rs.mu.Unlock()
}

func (rs *rollStatuses) loadAll(ctx context.Context) error {
	l, err := rs.store.List(ctx, status.Rolls)
	if err != nil {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, o := range l.Items {
		id := strings.TrimSuffix(o.Name, "/"+roll.StatusNamespace)
		rs.byID[id] = &o.Value
	}
	return nil
}

func (rs *rollStatuses) get(id string) *roll.Status {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.byID[id]
}

// finished makes rows of the status records whose roll is not in l.
func (rs *rollStatuses) finished(s *roll.Store, l *kv.Listing[roll.Roll]) []*kv.Object[roll.Roll] {
	live := map[string]bool{}
	for _, o := range l.Items {
		live[o.Name] = true
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*kv.Object[roll.Roll]
	for _, id := range sortedKeys(rs.byID) {
		st := rs.byID[id]
		if live[id] {
			continue
		}
		key, _ := s.Key(id)
		out = append(out, &kv.Object[roll.Roll]{Name: id, Key: key, Value: roll.Roll{ID: id, OldRC: st.OldRC,
			NewRC: st.NewRC, DesiredReplicas: st.DesiredReplicas, MinimumReplicas: st.MinimumReplicas}})
	}
	return out
}

func (rs *rollStatuses) cells(o *kv.Object[roll.Roll]) []string {
	r := o.Value
	phase, progress, msg := "-", "-", "-"
	if st := rs.get(o.Name); st != nil && (o.ModRevision == 0 || st.RollRevision == o.CreateRevision) {
		phase, progress, msg = string(st.Phase), st.Progress(), orDash(st.Message)
	} else if r.Paused {
		phase = string(roll.Paused)
	}
	leaveOld, deadline := strconv.FormatBool(r.LeaveOld), r.Deadline.String()
	if o.ModRevision == 0 {
		leaveOld, deadline = "-", "-" // a finished roll: its record keeps neither
	}
	return []string{r.ID, r.OldRC, r.NewRC, strconv.Itoa(r.DesiredReplicas), strconv.Itoa(r.MinimumReplicas),
		leaveOld, deadline, phase, progress, msg}
}
