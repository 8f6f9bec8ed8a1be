package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Log is the audit trail at <root>/audit/.
type Log struct {
	s   *kv.Store[Record]
	now func() time.Time
}

// NewLog returns the audit trail under the root prefix.
func NewLog(client *clientv3.Client, opts ...keyspace.Option) *Log {
	o := keyspace.Resolve(opts)
	return &Log{
		s: kv.New(client, o.Dir("audit"),
			kv.WithNameCheck[Record](keyspace.IDs("audit record")),
			kv.WithValidate(func(_ string, r *Record) error { return r.Validate() }),
			kv.WithLogger[Record](o.Log)),
		now: time.Now,
	}
}

// Store is the typed store underneath, for watches and raw reads.
func (l *Log) Store() *kv.Store[Record] { return l.s }

// Op returns the put of a new record of a change to an entity, stamped with
// the current time, for the caller to add to the transaction that makes the
// change. details is marshalled as JSON; nil leaves it out.
func (l *Log) Op(event EventType, entity, id, actor string, details any) (clientv3.Op, error) {
	r := &Record{EventType: event, Entity: entity, ID: id, Actor: actor, Timestamp: l.now().UTC()}
	if details != nil {
		raw, err := json.Marshal(details)
		if err != nil {
			return clientv3.Op{}, fmt.Errorf("audit %s %s %s: details: %w", event, entity, id, err)
		}
		r.Details = raw
	}
	op, err := l.s.PutOp(NewID(r.Timestamp), r)
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("audit %s %s %s: %w", event, entity, id, err)
	}
	return op, nil
}

// List returns the records written at or after since, oldest first, at
// most limit of them (0: no limit). Records that cannot be decoded are
// reported in the listing's Invalid and do not stop it.
func (l *Log) List(ctx context.Context, since time.Time, limit int) (*kv.Listing[Record], error) {
	prefix := l.s.Prefix()
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix))}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := l.s.Client().Get(ctx, prefix+idPrefix(since), opts...)
	if err != nil {
		return nil, fmt.Errorf("list %s since %s: %w", prefix, since.Format(time.RFC3339Nano), err)
	}
	out := &kv.Listing[Record]{Revision: resp.Header.Revision}
	for _, item := range resp.Kvs {
		obj, err := decode(prefix, item)
		if err != nil {
			out.Invalid = append(out.Invalid, err)
			continue
		}
		out.Items = append(out.Items, obj)
	}
	return out, nil
}

// decode reads one stored record the way the store does, for List's ranged
// read.
func decode(prefix string, item *mvccpb.KeyValue) (*kv.Object[Record], *kv.DecodeError) {
	key := string(item.Key)
	obj := &kv.Object[Record]{
		Name:           strings.TrimPrefix(key, prefix),
		Key:            key,
		CreateRevision: item.CreateRevision,
		ModRevision:    item.ModRevision,
		Version:        item.Version,
	}
	err := keyspace.IDs("audit record")(obj.Name)
	if err == nil {
		err = json.Unmarshal(item.Value, &obj.Value)
	}
	if err == nil {
		err = obj.Value.Validate()
	}
	if err != nil {
		return nil, &kv.DecodeError{Key: key, Revision: item.ModRevision, Err: err}
	}
	return obj, nil
}

// recentPage is how many records Recent reads from etcd at a time.
const recentPage = 500

// Recent returns the newest records first: at most n of them (0: every
// one) for which keep returns true (nil keeps all). It reads the log
// backwards in pages, so the newest few records of a long log cost a few
// reads. Records that cannot be decoded are in the listing's Invalid.
func (l *Log) Recent(ctx context.Context, n int, keep func(*Record) bool) (*kv.Listing[Record], error) {
	prefix := l.s.Prefix()
	out := &kv.Listing[Record]{}
	end := clientv3.GetPrefixRangeEnd(prefix)
	for {
		resp, err := l.s.Client().Get(ctx, prefix, clientv3.WithRange(end),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(recentPage),
			rev(out.Revision))
		if err != nil {
			return nil, fmt.Errorf("list %s newest first: %w", prefix, err)
		}
		if out.Revision == 0 {
			out.Revision = resp.Header.Revision
		}
		for _, item := range resp.Kvs {
			obj, derr := decode(prefix, item)
			switch {
			case derr != nil:
				out.Invalid = append(out.Invalid, derr)
			case keep == nil || keep(&obj.Value):
				out.Items = append(out.Items, obj)
				if n > 0 && len(out.Items) == n {
					return out, nil
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key) // exclusive: the next page is older
	}
}

// rev reads at revision r, or the current one when r is 0.
func rev(r int64) clientv3.OpOption {
	if r == 0 {
		return func(*clientv3.Op) {}
	}
	return clientv3.WithRev(r)
}
