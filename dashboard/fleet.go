package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxPodsShown is how many pods a node's row names; the rest are counted.
const maxPodsShown = 12

// nodeRow is one node of the fleet page: known from its labels, its
// intent or its preparer's record.
type nodeRow struct {
	Name   string
	Labels string
	// Record is the preparer's node record; nil: the preparer is gone.
	Record *status.NodeRecord
	// Intent counts the pods in the node's intent.
	Intent int
	// Pods are the node's pods with their health, for the rows of the
	// page shown only.
	Pods     []podRow
	MorePods int
	// Alive: the node record exists (its preparer keeps its lease).
	Alive bool
}

// podRow is one pod of a node: its id and what the preparer reports.
type podRow struct {
	Node   string
	ID     string
	State  string
	Health string
	Error  string
}

// fleetData is the fleet page: a summary of the nodes the selector
// matches and one page of them.
type fleetData struct {
	Selector string
	Total    int
	Matched  int
	Alive    int
	Gone     int
	Pods     int
	Health   map[string]int
	Rows     []nodeRow
	Pager    pager
}

// fleetNodes gathers every node known from node labels, intent keys or
// node records, sorted by name, as "p2ctl list nodes" does. It reads keys
// only, except the label sets when a selector needs them (sets); the
// rows shown get their values from rowDetails.
func (s *server) fleetNodes(ctx context.Context, v *view, withLabels bool) ([]*nodeRow, map[string]labels.Set, error) {
	byName := map[string]*nodeRow{}
	get := func(n string) *nodeRow {
		r, ok := byName[n]
		if !ok {
			r = &nodeRow{Name: n}
			byName[n] = r
		}
		return r
	}
	var sets map[string]labels.Set
	if withLabels {
		ls, err := labels.New(s.cli, keyspace.WithPrefix(s.cfg.prefix)).List(ctx, labels.Node)
		if err != nil {
			return nil, nil, fmt.Errorf("node labels: %w", err)
		}
		v.warnInvalid(ls.Invalid)
		sets = make(map[string]labels.Set, len(ls.Items))
		for _, o := range ls.Items {
			get(o.Name)
			sets[o.Name] = o.Value
		}
	}
	dirs := []string{s.dir("intent"), s.dir("status", string(status.Nodes))}
	if !withLabels {
		dirs = append(dirs, s.dir("labels", string(labels.Node)))
	}
	for i, dir := range dirs {
		resp, err := s.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", dir, err)
		}
		for _, item := range resp.Kvs {
			node, rest, _ := strings.Cut(strings.TrimPrefix(string(item.Key), dir), "/")
			if node == "" {
				continue
			}
			switch i {
			case 0:
				if rest != "" {
					get(node).Intent++
				}
			case 1:
				if rest == status.PreparerNamespace {
					get(node).Alive = true
				}
			default:
				get(node)
			}
		}
	}
	out := make([]*nodeRow, 0, len(byName))
	for _, r := range byName {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, sets, nil
}

// rowDetails reads the label set and the node record of each row shown.
func (s *server) rowDetails(ctx context.Context, v *view, rows []*nodeRow) error {
	ops := make([]clientv3.Op, 0, 2*len(rows))
	for _, n := range rows {
		ops = append(ops, clientv3.OpGet(s.dir("labels", string(labels.Node))+n.Name), clientv3.OpGet(s.dir("status", string(status.Nodes), n.Name)+status.PreparerNamespace))
	}
	got, err := s.getOps(ctx, ops)
	if err != nil {
		return err
	}
	var bad []*kv.DecodeError
	for i, n := range rows {
		if kvs := got[2*i]; len(kvs) > 0 {
			var set labels.Set
			if err := json.Unmarshal(kvs[0].Value, &set); err != nil {
				bad = append(bad, &kv.DecodeError{Key: string(kvs[0].Key), Revision: kvs[0].ModRevision, Err: err})
			} else {
				n.Labels = set.String()
			}
		}
		if kvs := got[2*i+1]; len(kvs) > 0 {
			var rec status.NodeRecord
			if err := json.Unmarshal(kvs[0].Value, &rec); err != nil {
				bad = append(bad, &kv.DecodeError{Key: string(kvs[0].Key), Revision: kvs[0].ModRevision, Err: err})
			} else {
				n.Record = &rec
			}
		}
	}
	v.warnInvalid(bad)
	return nil
}

func (s *server) fleetPage(ctx context.Context, r *http.Request, v *view) error {
	v.Title = "Fleet"
	d := &fleetData{Selector: strings.TrimSpace(r.URL.Query().Get("selector")), Health: map[string]int{}}
	v.Data = d
	sel, err := labels.Parse(d.Selector)
	if err != nil {
		return statusErr(http.StatusBadRequest, "selector %q: %v", d.Selector, err)
	}
	nodes, sets, err := s.fleetNodes(ctx, v, !sel.Empty())
	if err != nil {
		return err
	}
	d.Total = len(nodes)
	matched := nodes[:0:0]
	for _, n := range nodes {
		if !sel.Empty() && !sel.Matches(sets[n.Name]) {
			continue
		}
		matched = append(matched, n)
		d.Pods += n.Intent
		if n.Alive {
			d.Alive++
		} else {
			d.Gone++
		}
	}
	d.Matched = len(matched)
	d.Pager = newPager(r, s.cfg.pageSize, len(matched), false)
	from, to := d.Pager.bounds(len(matched))
	shown := matched[from:to]
	if err := s.rowDetails(ctx, v, shown); err != nil {
		return err
	}
	if err := s.addPods(ctx, shown); err != nil {
		return err
	}
	for _, n := range shown {
		for _, p := range n.Pods {
			d.Health[p.Health]++
		}
		if len(n.Pods) > maxPodsShown {
			n.MorePods = len(n.Pods) - maxPodsShown
			n.Pods = n.Pods[:maxPodsShown]
		}
		d.Rows = append(d.Rows, *n)
	}
	return nil
}

// addPods fills the pods of the rows with their preparer status: two
// prefix reads a node, in a few transactions for the whole page.
func (s *server) addPods(ctx context.Context, rows []*nodeRow) error {
	if len(rows) == 0 {
		return nil
	}
	intents := make([]string, 0, len(rows))
	records := make([]string, 0, len(rows))
	for _, n := range rows {
		intents = append(intents, s.dir("intent", n.Name))
		records = append(records, s.dir("status", string(status.Pods), n.Name))
	}
	ik, err := s.getPrefixes(ctx, intents, clientv3.WithKeysOnly())
	if err != nil {
		return err
	}
	rk, err := s.getPrefixes(ctx, records)
	if err != nil {
		return err
	}
	for i, n := range rows {
		n.Pods = s.podRows(n.Name, ik[i], rk[i])
	}
	return nil
}

// podRows joins a node's intent keys with the preparer's pod records.
func (s *server) podRows(node string, intent, records []*mvccpb.KeyValue) []podRow {
	statusDir := s.dir("status", string(status.Pods), node)
	byPod := map[string]*status.PodStatus{}
	bad := map[string]string{}
	for _, item := range records {
		pod, ns, ok := strings.Cut(strings.TrimPrefix(string(item.Key), statusDir), "/")
		if !ok || ns != status.PreparerNamespace {
			continue
		}
		var ps status.PodStatus
		if err := json.Unmarshal(item.Value, &ps); err != nil {
			bad[pod] = fmt.Sprintf("%s: %v", item.Key, err)
			continue
		}
		byPod[pod] = &ps
	}
	intentDir := s.dir("intent", node)
	out := make([]podRow, 0, len(intent))
	for _, item := range intent {
		id := strings.TrimPrefix(string(item.Key), intentDir)
		p := podRow{Node: node, ID: id, State: "pending", Health: "pending"}
		if ps, ok := byPod[id]; ok {
			p.State, p.Health, p.Error = string(ps.Status), string(ps.Health), ps.Error
			if p.Health == "" {
				p.Health = string(status.Unknown)
			}
		}
		if e, ok := bad[id]; ok {
			p.State, p.Health, p.Error = "invalid", string(status.Unknown), e
		}
		out = append(out, p)
	}
	return out
}
