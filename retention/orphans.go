package retention

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Rule says when a key of one directory has outlived the resource it
// describes: when none of its owner keys exists.
type Rule struct {
	// Dir is the directory under the root whose keys the rule judges:
	// "status/rolls", "labels/replication_controller".
	Dir string
	// Namespaced says the keys are "<id>/<namespace>" (status records);
	// otherwise they are "<id>" (label sets).
	Namespaced bool
	// Owners are the directories under the root whose key "<dir>/<id>"
	// keeps a key of id alive: "rolls" for a roll's records, "intent" and
	// "reality" for a pod's (a pod still installed keeps its record).
	Owners []string
}

// DefaultRules are the rules of the built-in records and labels: a pod's
// status records go once the pod is in neither intent nor reality; a
// daemon set's, RC's or roll's status records and labels once the entity
// is deleted (a roll is deleted when it finishes, the old RC with it); a
// pod cluster's labels once it is deleted. Pod cluster status records are
// left to the pod cluster farm, which deletes them itself (and syncs
// again when one disappears); node records live under their preparer's
// lease; node and pod labels belong to operators and to the farms.
func DefaultRules() []Rule {
	return []Rule{
		{Dir: "status/pods", Namespaced: true, Owners: []string{"intent", "reality"}},
		{Dir: "status/daemon_sets", Namespaced: true, Owners: []string{"daemon_sets"}},
		{Dir: "status/replication_controllers", Namespaced: true, Owners: []string{"replication_controllers"}},
		{Dir: "status/rolls", Namespaced: true, Owners: []string{"rolls"}},
		{Dir: "labels/daemon_set", Owners: []string{"daemon_sets"}},
		{Dir: "labels/replication_controller", Owners: []string{"replication_controllers"}},
		{Dir: "labels/roll", Owners: []string{"rolls"}},
		{Dir: "labels/pod_cluster", Owners: []string{"pod_clusters"}},
	}
}

// OrphanChunk is the most keys one transaction of Orphans.Prune deletes.
// The fleet view guards pod status records and labels with MaxDeletes(10,
// 0.5), which holds only a batch that deletes more than ten keys, so a
// clean-up never looks like a wipe to any consumer.
const OrphanChunk = 10

// listPage is how many keys one read of a listing returns.
const listPage = 1000

// Orphans deletes status records and labels whose resource is gone once
// they have been orphans for a grace period, so that operators can still
// read the last status of a finished roll or a removed pod for a while.
// The grace period is counted from when this Orphans first found the record orphaned
// at its current revision: a record written again starts afresh, and a
// new Orphans (another controller taking over) waits a full grace period
// again. Records are judged and deleted with compares, so a resource that
// comes back, or a record that changes, is never deleted. Prune is not
// safe to call from several goroutines at once.
type Orphans struct {
	client *clientv3.Client
	root   string
	rules  []Rule
	grace  time.Duration
	log    *zap.Logger
	now    func() time.Time
	seen   map[string]orphan
}

// orphan is a record found without its resource.
type orphan struct {
	modRevision int64
	since       time.Time
	owners      []string // full owner keys, each checked missing on delete
}

// NewOrphans returns a clean-up of the keys rules judge under root ("/p2"),
// deleting each after grace (at least zero) as an orphan.
func NewOrphans(client *clientv3.Client, root string, grace time.Duration, rules []Rule, log *zap.Logger) (*Orphans, error) {
	if client == nil {
		return nil, errors.New("orphans: nil etcd client")
	}
	for _, r := range rules {
		if err := keyspace.IDs("directory", "type")(r.Dir); err != nil {
			return nil, fmt.Errorf("orphans: rule dir %q: %w", r.Dir, err)
		}
		if len(r.Owners) == 0 {
			return nil, fmt.Errorf("orphans: rule for %s: owners: required", r.Dir)
		}
		for _, dir := range r.Owners {
			if err := keyspace.CheckID("owner directory", dir); err != nil {
				return nil, fmt.Errorf("orphans: rule for %s: %w", r.Dir, err)
			}
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Orphans{client: client, root: strings.TrimRight(root, "/"), rules: rules, grace: max(grace, 0), log: log,
		now: time.Now, seen: map[string]orphan{}}, nil
}

// Prune makes one pass: it lists the records and their owners at one
// revision, notes new orphans, and deletes those orphaned for longer than
// the grace period, at most OrphanChunk a transaction, each transaction
// guarded by guard (a lock's compare), by the record being unchanged and
// by every owner key being missing. It returns how many records it
// deleted. A failed guard of one record skips that record.
func (o *Orphans) Prune(ctx context.Context, guard ...clientv3.Cmp) (int, error) {
	now := o.now()
	next := map[string]orphan{}
	var due []string
	rev := int64(0)
	for _, r := range o.rules {
		owners := map[string]map[string]bool{}
		for _, dir := range r.Owners {
			names, at, err := o.names(ctx, o.root+"/"+dir+"/", rev)
			if err != nil {
				return 0, err
			}
			rev = at
			owners[dir] = names
		}
		records, at, err := o.list(ctx, o.root+"/"+r.Dir+"/", rev)
		if err != nil {
			return 0, err
		}
		rev = at
		for name, modRev := range records {
			id := name
			if r.Namespaced {
				cut := strings.LastIndexByte(name, '/')
				if cut <= 0 {
					continue // no namespace: not a record
				}
				id = name[:cut]
			}
			alive := false
			var keys []string
			for _, dir := range r.Owners {
				alive = alive || owners[dir][id]
				keys = append(keys, o.root+"/"+dir+"/"+id)
			}
			if alive {
				continue
			}
			key := o.root + "/" + r.Dir + "/" + name
			found := orphan{modRevision: modRev, since: now, owners: keys}
			if prev, ok := o.seen[key]; ok && prev.modRevision == modRev {
				found.since = prev.since
			}
			next[key] = found
			if now.Sub(found.since) >= o.grace {
				due = append(due, key)
			}
		}
	}
	o.seen = next
	sort.Strings(due)
	deleted := 0
	for len(due) > 0 {
		chunk := due[:min(OrphanChunk, len(due))]
		due = due[len(chunk):]
		n, err := o.delete(ctx, chunk, guard)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// delete deletes the records of keys in one transaction, or one by one
// when that transaction's compares fail.
func (o *Orphans) delete(ctx context.Context, keys []string, guard []clientv3.Cmp) (int, error) {
	try := func(keys []string) (bool, error) {
		cmps := append([]clientv3.Cmp{}, guard...)
		ops := make([]clientv3.Op, 0, len(keys))
		for _, key := range keys {
			rec := o.seen[key]
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", rec.modRevision))
			for _, owner := range rec.owners {
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(owner), "=", 0))
			}
			ops = append(ops, clientv3.OpDelete(key))
		}
		_, err := kv.Commit(ctx, o.client, cmps, ops...)
		if errors.Is(err, kv.ErrConflict) {
			return false, nil
		}
		return err == nil, err
	}
	ok, err := try(keys)
	if err != nil {
		return 0, fmt.Errorf("delete %d orphaned keys: %w", len(keys), err)
	}
	if ok {
		o.forget(keys...)
		return len(keys), nil
	}
	n := 0
	for _, key := range keys {
		ok, err := try([]string{key})
		if err != nil {
			return n, fmt.Errorf("delete orphaned key %s: %w", key, err)
		}
		if ok {
			o.forget(key)
			n++
		} else {
			o.log.Debug("orphaned key changed or lock lost; kept", zap.String("key", key))
		}
	}
	return n, nil
}

func (o *Orphans) forget(keys ...string) {
	for _, k := range keys {
		delete(o.seen, k)
	}
}

// names lists the names under dir (keys without dir) at rev (0: now).
func (o *Orphans) names(ctx context.Context, dir string, rev int64) (map[string]bool, int64, error) {
	m, at, err := o.list(ctx, dir, rev)
	out := make(map[string]bool, len(m))
	for name := range m {
		out[name] = true
	}
	return out, at, err
}

// list reads the keys under dir at rev (0: now), paged, as name -> mod
// revision, and the revision it read at.
func (o *Orphans) list(ctx context.Context, dir string, rev int64) (map[string]int64, int64, error) {
	out := map[string]int64{}
	end := clientv3.GetPrefixRangeEnd(dir)
	from := dir
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(listPage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := o.client.Get(ctx, from, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("list %s: %w", dir, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, item := range resp.Kvs {
			out[strings.TrimPrefix(string(item.Key), dir)] = item.ModRevision
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
