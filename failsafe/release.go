package failsafe

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/kv"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ReleaseRecord is the value of <prefix>/failsafe/releases/<hold-id>.
type ReleaseRecord struct {
	ReleasedBy string    `json:"released_by"`
	Time       time.Time `json:"time"`
}

// Release asks the guard that holds holdID to deliver the net change it
// holds: it writes the hold's release key, if the hold exists. A missing
// hold is an error wrapping kv.ErrNotFound.
func Release(ctx context.Context, client *clientv3.Client, prefix, holdID, releasedBy string) error {
	cmp, put, err := ReleaseOp(prefix, holdID, releasedBy)
	if err != nil {
		return err
	}
	resp, err := client.Txn(ctx).If(cmp).Then(put).Commit()
	if err != nil {
		return fmt.Errorf("release hold %s: %w", holdID, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("release hold %s: %s: %w", holdID, HoldKey(prefix, holdID), kv.ErrNotFound)
	}
	return nil
}

// ReleaseOp is the building block of Release, for callers that write
// other keys in the same transaction (an audit record): the comparison
// that the hold's record exists, and the put of its release. Put them in
// the transaction's If and Then; a transaction that did not succeed found
// no such hold.
func ReleaseOp(prefix, holdID, releasedBy string) (clientv3.Cmp, clientv3.Op, error) {
	if holdID == "" || strings.Contains(holdID, "/") {
		return clientv3.Cmp{}, clientv3.Op{}, fmt.Errorf("release hold %q: %w", holdID, kv.ErrInvalidName)
	}
	data, err := json.Marshal(ReleaseRecord{ReleasedBy: releasedBy, Time: time.Now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return clientv3.Cmp{}, clientv3.Op{}, fmt.Errorf("release hold %s: %w", holdID, err)
	}
	cmp := clientv3.Compare(clientv3.CreateRevision(HoldKey(prefix, holdID)), ">", 0)
	return cmp, clientv3.OpPut(ReleaseKey(prefix, holdID), string(data)), nil
}

// ListHolds returns the holds recorded under prefix, oldest first.
func ListHolds(ctx context.Context, client *clientv3.Client, prefix string) ([]Record, error) {
	dir := HoldKey(prefix, "")
	resp, err := client.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list holds %s: %w", dir, err)
	}
	recs := make([]Record, 0, len(resp.Kvs))
	for _, kvp := range resp.Kvs {
		var r Record
		if err := json.Unmarshal(kvp.Value, &r); err != nil {
			return nil, &kv.DecodeError{Key: string(kvp.Key), Revision: kvp.ModRevision, Err: err}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// watchReleases starts the release watcher unless it runs. h.mu is held.
func (h *Holds) watchReleases() {
	if h.stopWatch != nil || h.client == nil {
		return
	}
	ctx, cancel := context.WithCancel(h.ctx)
	h.stopWatch = cancel
	go h.followReleases(ctx)
}

// followReleases lists then watches the releases of the component's holds
// until ctx ends, which happens when no hold of h is in effect any more.
// Only the component's own releases are watched (hold ids begin with the
// component), so releasing one of many components' holds wakes one of
// them, not all.
func (h *Holds) followReleases(ctx context.Context) {
	dir := ReleaseKey(h.prefix, IDPrefix(h.component))
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		resp, err := h.client.Get(ctx, dir, clientv3.WithPrefix())
		if err == nil {
			for _, kvp := range resp.Kvs {
				h.dispatch(ctx, kvp)
			}
			wch := h.client.Watch(clientv3.WithRequireLeader(ctx), dir,
				clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
			for wr := range wch {
				if err = wr.Err(); err != nil {
					break
				}
				wait = 50 * time.Millisecond
				for _, ev := range wr.Events {
					if ev.Type == mvccpb.PUT {
						h.dispatch(ctx, ev.Kv)
					}
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("watch of failsafe releases failed; retrying", zap.String("prefix", dir),
			zap.Duration("in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// dispatch hands a release to the hold it names. A release of a hold that
// has no record is logged and removed.
func (h *Holds) dispatch(ctx context.Context, kvp *mvccpb.KeyValue) {
	key := string(kvp.Key)
	id := strings.TrimPrefix(key, ReleaseKey(h.prefix, ""))
	var rel ReleaseRecord
	by := string(kvp.Value)
	if json.Unmarshal(kvp.Value, &rel) == nil {
		by = rel.ReleasedBy
	}
	h.mu.Lock()
	hd := h.live[id]
	h.mu.Unlock()
	if hd != nil {
		h.log.Info("failsafe release received", zap.String("hold", id), zap.String("released_by", by),
			zap.Int64("revision", kvp.ModRevision))
		hd.fire(by, kvp.ModRevision)
		return
	}
	// Not a hold in effect here. Remove it only when no hold record
	// exists: the hold may belong to another process of a component of a
	// similar name, or be taken up by a restarted process.
	holdKey := HoldKey(h.prefix, id)
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := h.client.Txn(octx).
		If(clientv3.Compare(clientv3.CreateRevision(holdKey), "=", 0),
			clientv3.Compare(clientv3.ModRevision(key), "=", kvp.ModRevision)).
		Then(clientv3.OpDelete(key)).
		Commit()
	switch {
	case err != nil:
		h.log.Warn("check release of an unknown hold", zap.String("key", key), zap.Error(err))
	case resp.Succeeded:
		h.log.Warn("release of an unknown hold removed", zap.String("key", key),
			zap.String("hold", id), zap.String("released_by", by))
	}
}
