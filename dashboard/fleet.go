package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/p2kit/p2kit/keyspace"
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
// node records, sorted by name, as "p2ctl list nodes" does.
func (s *server) fleetNodes(ctx context.Context, v *view) ([]*nodeRow, map[string]labels.Set, error) {
	byName := map[string]*nodeRow{}
	get := func(n string) *nodeRow {
		r, ok := byName[n]
		if !ok {
			r = &nodeRow{Name: n}
			byName[n] = r
		}
		return r
	}
	ls, err := labels.New(s.cli, keyspace.WithPrefix(s.cfg.prefix)).List(ctx, labels.Node)
	if err != nil {
		return nil, nil, fmt.Errorf("node labels: %w", err)
	}
	v.warnInvalid(ls.Invalid)
	sets := make(map[string]labels.Set, len(ls.Items))
	for _, o := range ls.Items {
		get(o.Name).Labels = o.Value.String()
		sets[o.Name] = o.Value
	}
	intentDir := s.dir("intent")
	resp, err := s.cli.Get(ctx, intentDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, nil, fmt.Errorf("intent %s: %w", intentDir, err)
	}
	for _, item := range resp.Kvs {
		if node, _, ok := strings.Cut(strings.TrimPrefix(string(item.Key), intentDir), "/"); ok && node != "" {
			get(node).Intent++
		}
	}
	recs, l, err := status.NewNodeStore(s.cli, keyspace.WithPrefix(s.cfg.prefix)).List(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("node records: %w", err)
	}
	v.warnInvalid(l.Invalid)
	for node, o := range recs {
		get(node).Record = &o.Value
	}
	out := make([]*nodeRow, 0, len(byName))
	for _, r := range byName {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, sets, nil
}

func (s *server) fleetPage(ctx context.Context, r *http.Request, v *view) error {
	v.Title = "Fleet"
	d := &fleetData{Selector: strings.TrimSpace(r.URL.Query().Get("selector")), Health: map[string]int{}}
	v.Data = d
	sel, err := labels.Parse(d.Selector)
	if err != nil {
		return statusErr(http.StatusBadRequest, "selector %q: %v", d.Selector, err)
	}
	nodes, sets, err := s.fleetNodes(ctx, v)
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
		if n.Record != nil {
			d.Alive++
		} else {
			d.Gone++
		}
	}
	d.Matched = len(matched)
	d.Pager = newPager(r, s.cfg.pageSize, len(matched), false)
	from, to := d.Pager.bounds(len(matched))
	shown := matched[from:to]
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
