package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (a *app) describeCommand() *cobra.Command {
	return verbCommand("describe", "Show one entity with its status, pods, labels, audit records and holds", a.describeKind)
}

// describeRecent is how many audit records describe shows.
const describeRecent = 10

// describeKind is "describe <kind> <id>": what the entity is (its table
// columns, key and revisions, labels), its status records, the pods it
// owns with their health, its latest audit records and the failsafe holds
// that concern it.
func (a *app) describeKind(k *kind) *cobra.Command {
	return &cobra.Command{
		Use:               k.use(true),
		Args:              cobra.ExactArgs(len(k.idArgs)),
		ValidArgsFunction: a.completeIDs(k),
		RunE: func(cmd *cobra.Command, ids []string) error {
			what := "describe " + display(k, ids)
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			obj, err := r.get(ctx, ids)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if err := a.describe(ctx, k, r, ids, obj); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		},
	}
}

func (a *app) describe(ctx context.Context, k *kind, r resource, ids []string, obj *row) error {
	v, err := a.loadPods(ctx, a.cli)
	if err != nil {
		return err
	}
	if err := a.addCounts(ctx, k, []*row{obj}); err != nil {
		return err
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Kind:\t%s\n", k.name)
	fmt.Fprintf(tw, "Key:\t%s\n", obj.env.Key)
	fmt.Fprintf(tw, "Revisions:\tcreated %d, modified %d, version %d\n", obj.env.CreateRevision, obj.env.ModRevision, obj.env.Version)
	for i, h := range r.headers() {
		if h != "REVISION" && i < len(obj.cells) {
			fmt.Fprintf(tw, "%s:\t%s\n", headerTitle(h), obj.cells[i])
		}
	}
	sets, err := a.labelSets(ctx, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "Labels:\t%s\n", orDash(sets[labelID(k, obj.env.Key)].String()))
	if err := tw.Flush(); err != nil {
		return err
	}

	id := labelID(k, obj.env.Key)
	statusType := k.dir
	if k.perNode {
		statusType = "pods"
	}
	if err := a.describeStatus(ctx, &b, statusType, id); err != nil {
		return err
	}

	var pods []*podInfo
	switch {
	case k.owner != "":
		pods = v.owned(k.owner, ids[0])
	case k.perNode:
		if p := v.pods[id]; p != nil {
			pods = []*podInfo{p}
		}
	}
	if k.owner != "" || k.perNode {
		b.WriteString("Pods:\n")
		rows := make([][]string, 0, len(pods))
		for _, p := range pods {
			rows = append(rows, []string{p.node, p.pod, yesNo(p.scheduled), orDash(p.status), orDash(p.health)})
		}
		if len(rows) == 0 {
			b.WriteString("  none\n")
		} else if err := printTable(indent(&b), []string{"NODE", "POD", "SCHEDULED", "STATUS", "HEALTH"}, rows); err != nil {
			return err
		}
	}

	if err := a.describeAudit(ctx, &b, k.dir, id); err != nil {
		return err
	}
	if err := a.describeHolds(ctx, &b, k, obj.env.Key, ids); err != nil {
		return err
	}
	_, err = a.stdout.Write(b.Bytes())
	return err
}

// describeStatus prints every status record of <statusType>/<id>, one per
// namespace.
func (a *app) describeStatus(ctx context.Context, w *bytes.Buffer, statusType, id string) error {
	dir := a.prefix + "/status/" + statusType + "/" + id + "/"
	resp, err := a.cli.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("read status %s: %w", dir, err)
	}
	w.WriteString("Status:\n")
	if len(resp.Kvs) == 0 {
		w.WriteString("  none\n")
	}
	for _, item := range resp.Kvs {
		ns := strings.TrimPrefix(string(item.Key), dir)
		if strings.Contains(ns, "/") {
			continue // a longer id: web1/hello-2 under web1/hello
		}
		var compact bytes.Buffer
		if json.Compact(&compact, item.Value) != nil {
			compact.Reset()
			compact.WriteString(fmt.Sprintf("%q (not JSON)", item.Value))
		}
		fmt.Fprintf(w, "  %s: %s\n", ns, compact.String())
	}
	return nil
}

// describeAudit prints the latest audit records of one entity.
func (a *app) describeAudit(ctx context.Context, w *bytes.Buffer, entity, id string) error {
	l, err := a.auditLog(a.cli).Recent(ctx, describeRecent, func(r *audit.Record) bool {
		return r.Entity == entity && r.ID == id
	})
	if err != nil {
		return err
	}
	w.WriteString("Audit (newest first):\n")
	if len(l.Items) == 0 {
		w.WriteString("  none\n")
		return nil
	}
	rows := make([][]string, 0, len(l.Items))
	for _, o := range l.Items {
		rows = append(rows, []string{o.Value.Timestamp.Local().Format(time.RFC3339), string(o.Value.EventType), o.Value.Actor})
	}
	return printTable(indent(w), []string{"TIME", "EVENT", "ACTOR"}, rows)
}

// describeHolds prints the holds that hold back the entity's key, or whose
// component is the entity's farm or, for a pod, its node's preparer.
func (a *app) describeHolds(ctx context.Context, w *bytes.Buffer, k *kind, key string, ids []string) error {
	holds, err := a.listHolds(ctx, a.cli)
	if err != nil {
		return err
	}
	w.WriteString("Failsafe holds:\n")
	var rows [][]string
	for _, h := range holds {
		if concerns(h, k, key, ids) {
			rows = append(rows, []string{h.ID, h.Component, h.Guard, fmt.Sprintf("%d/%d", h.Deletes, h.Total), yesNo(h.Released), h.Reason})
		}
	}
	if len(rows) == 0 {
		w.WriteString("  none\n")
		return nil
	}
	return printTable(indent(w), []string{"ID", "COMPONENT", "GUARD", "DELETES", "RELEASED", "REASON"}, rows)
}

// concerns reports whether hold h holds back key or belongs to the
// component that acts on entities of kind k.
func concerns(h heldRecord, k *kind, key string, ids []string) bool {
	for _, held := range h.Keys {
		if held == key {
			return true
		}
	}
	if k.perNode {
		return h.Component == "preparer/"+ids[0]
	}
	return strings.Contains(h.Component, k.dir) || strings.Contains(h.Component, k.name+"-farm")
}

// headerTitle turns a column header into a describe label: "MIN_HEALTH"
// becomes "Min health".
func headerTitle(h string) string {
	s := strings.ToLower(strings.ReplaceAll(h, "_", " "))
	return strings.ToUpper(s[:1]) + s[1:]
}

// indent returns a writer that indents each line by two spaces.
func indent(w io.Writer) io.Writer { return &indenter{w: w, bol: true} }

type indenter struct {
	w   io.Writer
	bol bool
}

func (i *indenter) Write(p []byte) (int, error) {
	for _, c := range p {
		if i.bol {
			if _, err := i.w.Write([]byte("  ")); err != nil {
				return 0, err
			}
		}
		if _, err := i.w.Write([]byte{c}); err != nil {
			return 0, err
		}
		i.bol = c == '\n'
	}
	return len(p), nil
}
