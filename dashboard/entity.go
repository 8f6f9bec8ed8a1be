package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/rc"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// recentPerEntity is how many audit records an entity's page shows.
const recentPerEntity = 20

// maxNodesShown is how many nodes a controller's page names.
const maxNodesShown = 100

// statusRecord is one status record of an entity, by namespace.
type statusRecord struct {
	Namespace string
	Key       string
	Value     []byte
}

type entityData struct {
	Kind string
	ID   string
	Key  string
	// Value is the entity's stored JSON; nil when it does not exist (a
	// finished roll keeps only its status record).
	Value  []byte
	Labels string
	Status []statusRecord
	Audit  []audit.Record
	// Nodes run the controller's pods (RCs and daemon sets), or Pods are
	// the node's (nodes).
	Nodes     []string
	MoreNodes int
	Pods      []podRow
}

// entityKey is where an entity of kind is stored and its labels' type.
func (s *server) entityKey(kind, id string) (string, labels.Type, error) {
	switch kind {
	case "nodes":
		return s.dir("labels", string(labels.Node)) + id, labels.Node, nil
	case failsafe.HoldKind:
		return failsafe.HoldKey(s.cfg.prefix, id), "", nil
	}
	if err := audit.ValidateKind(kind); err != nil {
		return "", "", err
	}
	lt := labels.Type(strings.TrimSuffix(kind, "s"))
	if lt.Validate() != nil {
		lt = ""
	}
	return s.dir(kind) + id, lt, nil
}

func (s *server) entityPage(ctx context.Context, r *http.Request, v *view) error {
	kind, id := r.PathValue("kind"), r.PathValue("id")
	v.Title = kind + " " + id
	d := &entityData{Kind: kind, ID: id}
	v.Data = d
	if err := manifest.ValidateID(id); err != nil && kind != failsafe.HoldKind {
		return statusErr(http.StatusBadRequest, "%s id %q: %v", kind, id, err)
	}
	key, lt, err := s.entityKey(kind, id)
	if err != nil {
		return statusErr(http.StatusBadRequest, "entity kind %q: %v", kind, err)
	}
	d.Key = key
	statusDir := s.dir("status", kind, id)
	ops := []clientv3.Op{clientv3.OpGet(key), clientv3.OpGet(statusDir, clientv3.WithPrefix())}
	if lt != "" && kind != "nodes" {
		ops = append(ops, clientv3.OpGet(s.dir("labels", string(lt))+id))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		d.Value = kvs[0].Value
	}
	for _, item := range resp.Responses[1].GetResponseRange().Kvs {
		d.Status = append(d.Status, statusRecord{Namespace: strings.TrimPrefix(string(item.Key), statusDir), Key: string(item.Key), Value: item.Value})
	}
	if len(resp.Responses) > 2 {
		if kvs := resp.Responses[2].GetResponseRange().Kvs; len(kvs) > 0 {
			d.Labels = string(kvs[0].Value)
		}
	}
	switch kind {
	case "nodes":
		rows := []*nodeRow{{Name: id}}
		if err := s.addPods(ctx, rows); err != nil {
			return err
		}
		d.Pods = rows[0].Pods
	case rc.Kind, daemonset.Kind:
		if err := s.controllerNodes(ctx, d, v); err != nil {
			return err
		}
	}
	recs, err := s.recentAudit(ctx, recentPerEntity, kind, id, "")
	if err != nil {
		return err
	}
	v.warnInvalid(recs.Invalid)
	for _, o := range recs.Items {
		d.Audit = append(d.Audit, o.Value)
	}
	// A deleted entity (an RC a roll replaced, a released hold) keeps its
	// page while its audit records last.
	if d.Value == nil && len(d.Status) == 0 && len(d.Pods) == 0 && len(d.Audit) == 0 {
		return statusErr(http.StatusNotFound, "%s %s: no value at %s, no status record and no audit record", kind, id, key)
	}
	return nil
}

// controllerNodes names the nodes that run pods of an RC or a daemon set,
// by the owner label its pods carry. Only label sets that mention the id
// are decoded: a fleet has many more pods than one controller owns.
func (s *server) controllerNodes(ctx context.Context, d *entityData, v *view) error {
	label := "replication_controller_id"
	if d.Kind == daemonset.Kind {
		label = "daemon_set_id"
	}
	dir := s.dir("labels", string(labels.Pod))
	resp, err := s.cli.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("pods of %s %s: %s: %w", d.Kind, d.ID, dir, err)
	}
	quoted := []byte(`"` + d.ID + `"`)
	var bad []*kv.DecodeError
	seen := map[string]bool{}
	for _, item := range resp.Kvs {
		if !bytes.Contains(item.Value, quoted) {
			continue
		}
		var set labels.Set
		if err := json.Unmarshal(item.Value, &set); err != nil {
			bad = append(bad, &kv.DecodeError{Key: string(item.Key), Revision: item.ModRevision, Err: err})
			continue
		}
		if set[label] != d.ID {
			continue
		}
		node, _, _ := strings.Cut(strings.TrimPrefix(string(item.Key), dir), "/")
		if seen[node] {
			continue
		}
		seen[node] = true
		if len(d.Nodes) < maxNodesShown {
			d.Nodes = append(d.Nodes, node)
		} else {
			d.MoreNodes++
		}
	}
	v.warnInvalid(bad)
	return nil
}
