package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/status"
)

// rcRow is one RC with its farm's counts.
type rcRow struct {
	ID       string
	PodID    string
	Selector string
	Desired  int
	Current  int
	Healthy  int
	Disabled bool
	// Seen: the farm has written a status record.
	Seen    bool
	Message string
}

// dsRow is one daemon set with its farm's counts.
type dsRow struct {
	ID       string
	PodID    string
	Selector string
	Matched  int
	Current  int
	Healthy  int
	Disabled bool
	Seen     bool
	Message  string
}

type controllersData struct {
	RCs      []rcRow
	RCPager  pager
	DSs      []dsRow
	DSPager  pager
	Filter   string
	RCsTotal int
	DSsTotal int
}

// statusName is the id of a status record listed by status.Store.List:
// "<id>/<namespace>" without the namespace.
func statusName(name string) string {
	id, _, _ := strings.Cut(name, "/")
	return id
}

func (s *server) controllersPage(ctx context.Context, r *http.Request, v *view) error {
	v.Title = "Controllers"
	d := &controllersData{Filter: strings.TrimSpace(r.URL.Query().Get("q"))}
	v.Data = d
	ks := keyspace.WithPrefix(s.cfg.prefix)
	rcs, err := rc.NewStore(s.cli, ks).List(ctx)
	if err != nil {
		return fmt.Errorf("replication controllers: %w", err)
	}
	v.warnInvalid(rcs.Invalid)
	rst, err := rc.NewStatusStore(s.cli, ks).List(ctx, status.ReplicationControllers)
	if err != nil {
		return fmt.Errorf("replication controller status: %w", err)
	}
	v.warnInvalid(rst.Invalid)
	rcStatus := map[string]*rc.Status{}
	for _, o := range rst.Items {
		rcStatus[statusName(o.Name)] = &o.Value
	}
	var rows []rcRow
	for _, o := range rcs.Items {
		if d.Filter != "" && !strings.Contains(o.Name, d.Filter) {
			continue
		}
		row := rcRow{ID: o.Name, PodID: o.Value.Manifest.ID, Selector: o.Value.NodeSelector, Desired: o.Value.ReplicasDesired, Disabled: o.Value.Disabled}
		if st, ok := rcStatus[o.Name]; ok {
			row.Seen, row.Current, row.Healthy, row.Message = true, st.Current, st.Healthy, st.Message
		}
		rows = append(rows, row)
	}
	d.RCsTotal = len(rows)
	d.RCPager = newPager(r, s.cfg.pageSize, len(rows), false)
	from, to := d.RCPager.bounds(len(rows))
	d.RCs = rows[from:to]

	dss, err := daemonset.NewStore(s.cli, ks).List(ctx)
	if err != nil {
		return fmt.Errorf("daemon sets: %w", err)
	}
	v.warnInvalid(dss.Invalid)
	dstore, err := status.NewStore[daemonset.Status](s.cli, daemonset.StatusNamespace, ks)
	if err != nil {
		return err
	}
	dst, err := dstore.List(ctx, status.DaemonSets)
	if err != nil {
		return fmt.Errorf("daemon set status: %w", err)
	}
	v.warnInvalid(dst.Invalid)
	dsStatus := map[string]*daemonset.Status{}
	for _, o := range dst.Items {
		dsStatus[statusName(o.Name)] = &o.Value
	}
	var drows []dsRow
	for _, o := range dss.Items {
		if d.Filter != "" && !strings.Contains(o.Name, d.Filter) {
			continue
		}
		row := dsRow{ID: o.Name, PodID: o.Value.PodID, Selector: o.Value.NodeSelector, Disabled: o.Value.Disabled}
		if st, ok := dsStatus[o.Name]; ok {
			row.Seen, row.Matched, row.Current, row.Healthy, row.Message = true, st.Matched, st.Current, st.Healthy, st.Message
		}
		drows = append(drows, row)
	}
	d.DSsTotal = len(drows)
	d.DSPager = newPager(r, s.cfg.pageSize, len(drows), false)
	from, to = d.DSPager.bounds(len(drows))
	d.DSs = drows[from:to]
	return nil
}
