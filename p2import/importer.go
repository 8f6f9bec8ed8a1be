package p2import

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/roll"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultChunkSize is how many records Apply writes in one transaction:
// each record is two operations (the record and its audit record), so a
// chunk stays within etcd's default --max-txn-ops.
const DefaultChunkSize = kv.MaxTxnOps / 2

// Importer checks converted records against etcd and writes them through
// the p2kit stores, every write audited under the operator's name.
type Importer struct {
	client *clientv3.Client
	actor  string
	log    *zap.Logger
	chunk  int

	intent  *intent.Store
	reality *reality.Store
	labels  *labels.Store
	rcs     *rc.Store
	dss     *daemonset.Store
	pcs     *podcluster.Store
	rolls   *roll.Store
	audit   *audit.Log
}

// Option configures an Importer.
type Option func(*config)

type config struct {
	root  string
	log   *zap.Logger
	chunk int
}

// WithPrefix sets the root prefix records are written under (default "/p2").
func WithPrefix(root string) Option { return func(c *config) { c.root = root } }

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithChunkSize sets how many records one transaction writes, at most
// DefaultChunkSize.
func WithChunkSize(n int) Option {
	return func(c *config) {
		if n > 0 && n <= DefaultChunkSize {
			c.chunk = n
		}
	}
}

// New returns an Importer that writes through client and records actor
// (the operator) in every audit record.
func New(client *clientv3.Client, actor string, opts ...Option) *Importer {
	c := config{root: keyspace.DefaultRoot, log: zap.NewNop(), chunk: DefaultChunkSize}
	for _, o := range opts {
		o(&c)
	}
	ks := []keyspace.Option{keyspace.WithPrefix(c.root)}
	return &Importer{
		client:  client,
		actor:   actor,
		log:     c.log,
		chunk:   c.chunk,
		intent:  intent.NewStore(client, ks...),
		reality: reality.NewStore(client, ks...),
		labels:  labels.New(client, ks...),
		rcs:     rc.NewStore(client, ks...),
		dss:     daemonset.NewStore(client, ks...),
		pcs:     podcluster.NewStore(client, ks...),
		rolls:   roll.NewStore(client, ks...),
		audit:   audit.NewLog(client, ks...),
	}
}

// Plan converts entries (see Convert) and checks each record against etcd:
// a record etcd already holds unchanged is Unchanged, one whose key holds
// another value is an Ambiguous problem, and a roll whose RCs are neither in
// the export nor in etcd is Unconvertible. It writes nothing.
func (im *Importer) Plan(ctx context.Context, entries []Entry) (*Plan, error) {
	p := Convert(entries)
	var ok []Record
	sources := map[string]string{}
	for _, r := range p.Records {
		cmp, op, err := im.createOp(r)
		if err != nil {
			p.Problems = append(p.Problems, Problem{Source: r.Source, Kind: r.Kind, Class: Unconvertible, Reason: err.Error()})
			continue
		}
		r.cmp, r.op, r.Key = cmp, op, string(op.KeyBytes())
		if other, dup := sources[r.Key]; dup {
			p.Problems = append(p.Problems, Problem{Source: r.Source, Kind: r.Kind, Class: Ambiguous,
				Reason: fmt.Sprintf("%s also converts to %s", other, r.Key)})
			continue
		}
		sources[r.Key] = r.Source
		ok = append(ok, r)
	}
	existing, err := im.read(ctx, ok)
	if err != nil {
		return nil, err
	}
	p.Records = p.Records[:0]
	for _, r := range ok {
		cur, found := existing[r.Key]
		switch {
		case !found:
			r.Action = Create
		case bytes.Equal(cur, r.op.ValueBytes()):
			r.Action = Unchanged
		default:
			p.Problems = append(p.Problems, Problem{Source: r.Source, Kind: r.Kind, Class: Ambiguous,
				Reason: fmt.Sprintf("etcd already holds another value at %s", r.Key)})
			continue
		}
		p.Records = append(p.Records, r)
	}
	if err := im.checkRolls(ctx, p); err != nil {
		return nil, err
	}
	p.sort()
	return p, nil
}

// createOp returns the compare and the write of r, built and validated by
// the store of its kind.
func (im *Importer) createOp(r Record) (clientv3.Cmp, clientv3.Op, error) {
	switch v := r.Value.(type) {
	case *manifest.Manifest:
		if r.Kind == Reality {
			return im.reality.KV().CreateOp(r.ID, v)
		}
		return im.intent.KV().CreateOp(r.ID, v)
	case labels.Set:
		typ, id, _ := cutType(r.ID)
		st, err := im.labels.Of(typ)
		if err != nil {
			return clientv3.Cmp{}, clientv3.Op{}, err
		}
		return st.CreateOp(id, &v)
	case *rc.RC:
		return im.rcs.KV().CreateOp(r.ID, v)
	case *daemonset.DaemonSet:
		return im.dss.KV().CreateOp(r.ID, v)
	case *podcluster.PodCluster:
		return im.pcs.KV().CreateOp(r.ID, v)
	case *roll.Roll:
		return im.rolls.KV().CreateOp(r.ID, v)
	}
	return clientv3.Cmp{}, clientv3.Op{}, fmt.Errorf("%s %s: value of type %T cannot be imported", r.Kind, r.ID, r.Value)
}

// cutType splits a labels record id "<type>/<id>".
func cutType(id string) (labels.Type, string, bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == '/' {
			return labels.Type(id[:i]), id[i+1:], true
		}
	}
	return "", id, false
}

// read returns the values etcd holds at the records' keys, reading them in
// transactions of kv.MaxTxnOps gets at one revision each.
func (im *Importer) read(ctx context.Context, recs []Record) (map[string][]byte, error) {
	out := map[string][]byte{}
	for start := 0; start < len(recs); start += kv.MaxTxnOps {
		end := min(start+kv.MaxTxnOps, len(recs))
		ops := make([]clientv3.Op, 0, end-start)
		for _, r := range recs[start:end] {
			ops = append(ops, clientv3.OpGet(r.Key))
		}
		resp, err := im.client.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("read the keys the import would write: %w", err)
		}
		for _, rr := range resp.Responses {
			for _, kvp := range rr.GetResponseRange().Kvs {
				out[string(kvp.Key)] = kvp.Value
			}
		}
	}
	return out, nil
}

// checkRolls reports rolls whose old or new RC is neither among the
// records nor in etcd: p2kit refuses such a roll.
func (im *Importer) checkRolls(ctx context.Context, p *Plan) error {
	rcs := map[string]bool{}
	for _, r := range p.Records {
		if r.Kind == ReplicationController {
			rcs[r.ID] = true
		}
	}
	var keep []Record
	for _, r := range p.Records {
		ro, isRoll := r.Value.(*roll.Roll)
		if !isRoll || r.Action != Create {
			keep = append(keep, r)
			continue
		}
		var missing []string
		for _, id := range []string{ro.OldRC, ro.NewRC} {
			if rcs[id] {
				continue
			}
			_, err := im.rcs.Get(ctx, id)
			switch {
			case errors.Is(err, kv.ErrNotFound):
				missing = append(missing, id)
			case err != nil:
				var derr *kv.DecodeError
				if !errors.As(err, &derr) {
					return fmt.Errorf("roll %s: read RC %s: %w", r.ID, id, err)
				}
			}
		}
		if len(missing) > 0 {
			p.Problems = append(p.Problems, Problem{Source: r.Source, Kind: Roll, Class: Unconvertible,
				Reason: fmt.Sprintf("roll %s needs RC %q, which is neither in the export nor in etcd", r.ID, missing[0])})
			continue
		}
		keep = append(keep, r)
	}
	p.Records = keep
	return nil
}
