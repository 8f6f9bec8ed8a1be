package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Retention says how much of the audit log to keep. A zero field sets no
// limit of its kind.
type Retention struct {
	// MaxAge: records older than this are deleted.
	MaxAge time.Duration
	// MaxRecords: beyond this many records, the oldest are deleted.
	MaxRecords int
}

// PruneChunk is the most records one prune transaction deletes: a bounded
// transaction, well under etcd's default --max-txn-ops (128).
const PruneChunk = 100

// Prune deletes the records older than r.MaxAge, then the oldest records
// beyond r.MaxRecords, oldest first, at most PruneChunk keys a
// transaction, every transaction guarded by guard (the compare of a lock
// the caller holds, such as concurrency.Mutex.IsOwner). It returns how many
// records it deleted. A failed guard stops it with kv.ErrConflict; what
// was deleted before stays deleted.
//
// Audit records are not entities: nothing acts on their deletion, and no
// watch of an entity tree sees them (they live under <root>/audit/ only).
// Prune deletes keys one by one inside each transaction (never a range
// delete), so it can remove nothing but the records it listed. Deletes
// are allowed while etcd's NOSPACE alarm is raised, so Prune also frees
// space then.
func (l *Log) Prune(ctx context.Context, r Retention, guard ...clientv3.Cmp) (int, error) {
	prefix := l.s.Prefix()
	deleted := 0
	if r.MaxAge > 0 {
		cutoff := prefix + idPrefix(l.now().Add(-r.MaxAge))
		for {
			n, err := l.pruneOldest(ctx, cutoff, PruneChunk, guard)
			deleted += n
			if err != nil {
				return deleted, fmt.Errorf("prune %s older than %s: %w", prefix, r.MaxAge, err)
			}
			if n < PruneChunk {
				break
			}
		}
	}
	if r.MaxRecords > 0 {
		resp, err := l.s.Client().Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return deleted, fmt.Errorf("count %s: %w", prefix, err)
		}
		end := clientv3.GetPrefixRangeEnd(prefix)
		for excess := int(resp.Count) - r.MaxRecords; excess > 0; {
			n, err := l.pruneOldest(ctx, end, min(excess, PruneChunk), guard)
			deleted += n
			excess -= n
			if err != nil {
				return deleted, fmt.Errorf("prune %s beyond %d records: %w", prefix, r.MaxRecords, err)
			}
			if n == 0 {
				break
			}
		}
	}
	return deleted, nil
}

// pruneOldest deletes the oldest records below end, at most limit of them,
// in one transaction under guard, and returns how many it deleted.
func (l *Log) pruneOldest(ctx context.Context, end string, limit int, guard []clientv3.Cmp) (int, error) {
	if limit <= 0 {
		return 0, errors.New("prune: limit must be positive")
	}
	resp, err := l.s.Client().Get(ctx, l.s.Prefix(), clientv3.WithRange(end), clientv3.WithKeysOnly(),
		clientv3.WithLimit(int64(limit)), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return 0, fmt.Errorf("list oldest records: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	ops := make([]clientv3.Op, 0, len(resp.Kvs))
	for _, item := range resp.Kvs {
		ops = append(ops, clientv3.OpDelete(string(item.Key)))
	}
	if _, err := kv.Commit(ctx, l.s.Client(), guard, ops...); err != nil {
		return 0, err
	}
	return len(ops), nil
}
